"""The sandbox's fleet changing under a rollout test: scaling moto's group out and in, and watching the
load balancer (HAProxy's servers, sampled through its runtime API) while a rollout runs. Test helper.

Every test that scales puts the group back as it found it: desired 2, the instances it added
terminated (decrementing the desired capacity, so moto launches no replacement), the load
balancer back to the group's instances.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from e2e.rollout.fleetkit import aws, instances, until
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet import haproxy
from reconciler.sandbox.fleet.layout import GROUP, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo

DESIRED = 2  # the group as `sandbox up` made it


def engine_answers(ip: str) -> bool:
    try:
        api = connect(docker_url(ip), timeout=10)
    except Exception:  # not yet: ssh refused, no route
        return False
    try:
        return bool(api.version().get("Version"))
    except Exception:
        return False
    finally:
        api.close()


def lb_servers() -> dict[str, str]:
    """The load balancer's servers: status, admin state and last check (for failure messages)."""
    servers = haproxy.Runtime().servers(GROUP.target_group)
    return {name: f"{s.status} {s.admin} {s.check_status} {s.check_code}" for name, s in servers.items()}


def in_service() -> set[str]:
    """The instances the load balancer sends requests to (UP and not draining)."""
    servers = haproxy.Runtime().servers(GROUP.target_group)
    return {name for name, s in servers.items() if s.up and not s.draining}


def scale_to(sandbox: SandboxInfo, desired: int) -> dict[str, str]:
    """SetDesiredCapacity, then wait until that many instances are InService with their engines
    answering over ssh; the instances (oldest first)."""
    aws(sandbox, "autoscaling").set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=desired)
    found: dict[str, str] = until(f"{desired} instances", lambda: len(got := instances(sandbox)) == desired and got,
                                  timeout=120)  # fmt: skip
    for instance, ip in found.items():
        until(f"the engine of {instance}", lambda ip=ip: engine_answers(ip), timeout=120)
    return found


def terminate(sandbox: SandboxInfo, instance: str) -> None:
    """TerminateInstanceInAutoScalingGroup, decrementing the desired capacity (no replacement); the
    group takes the instance out of its target group, as on AWS (the sandbox's AWS front does it for
    moto)."""
    aws(sandbox, "autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=instance, ShouldDecrementDesiredCapacity=True
    )


def back_to_two(sandbox: SandboxInfo, keep: list[str]) -> None:
    """The group as ``sandbox up`` made it: the instances not in ``keep`` terminated (decrementing,
    newest first) while there are more than 2, desired 2; then wait until 2 instances run with their
    engines answering and the load balancer has only them. (moto's SetDesiredCapacity would scale in
    the oldest instances: the ones the tests found.)"""
    found = list(instances(sandbox))
    for instance in reversed(found):
        if len(found) > DESIRED and instance not in keep:
            terminate(sandbox, instance)
            found.remove(instance)
    settled = scale_to(sandbox, DESIRED)
    until("the load balancer back to the group's instances",
          lambda: set(haproxy.Runtime().servers(GROUP.target_group)) <= set(settled), timeout=60)  # fmt: skip


@dataclass
class Watch:
    """The load balancer's in-service instances, sampled about every 0.1 s while a rollout runs."""

    interval: float = 0.1
    samples: list[frozenset[str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def out(self, fleet: set[str]) -> list[frozenset[str]]:
        """Per sample, the instances of ``fleet`` the load balancer did not send requests to."""
        return [frozenset(fleet - s) for s in self.samples]

    def most_out(self, fleet: set[str]) -> int:
        return max((len(o) for o in self.out(fleet)), default=0)

    @contextmanager
    def running(self) -> Iterator[Watch]:
        def sample() -> None:
            while not self._stop.is_set():
                self.samples.append(frozenset(in_service()))
                self._stop.wait(self.interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)
