"""The sandbox's fleet for the rollout tests: its instances, their engines over ssh, a copy of
environments/prod that publishes the frontend on the target group's port, and a bounded request
loop through the load balancer. Test helper.

The session's ``sandbox up`` made the fleet (popcon-prod-asg, 2 instances behind HAProxy on
http://127.0.0.1:8080). The tests' copy of environments/prod is unique (parameter prefix, owner,
project) but must publish port 3000 on the instances, where the load balancer sends: one copy is
deployed at a time, and what it left on the instances is removed afterwards (:func:`clear_port`).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import boto3
import docker
import docker.errors

from e2e.conftest import Env
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, OWNER_KEY
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet.layout import GROUP, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo

LB = "http://127.0.0.1:8080/"


def aws(sandbox: SandboxInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=sandbox.moto_url, region_name=sandbox.region,  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def instances(sandbox: SandboxInfo) -> dict[str, str]:
    """The group's InService instances: id -> private IP (oldest first, as the rollout takes them)."""
    asg, ec2 = aws(sandbox, "autoscaling"), aws(sandbox, "ec2")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    found = {}
    for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] == "running":
                found[i["InstanceId"]] = (str(i["LaunchTime"]), i["PrivateIpAddress"])
    return {k: ip for k, (_, ip) in sorted(found.items(), key=lambda kv: (kv[1][0], kv[0]))}


@contextmanager
def engines(sandbox: SandboxInfo) -> Iterator[dict[str, docker.APIClient]]:
    """Instance id -> a Docker client of its engine, over ssh as the sandbox reaches it."""
    found = until("2 instances with engines", lambda: len(instances(sandbox)) >= 2 and instances(sandbox))
    clients = {i: connect(docker_url(ip), timeout=30) for i, ip in found.items()}
    try:
        yield clients
    finally:
        for api in clients.values():
            api.close()


def clear_port(api: docker.APIClient) -> None:
    """Remove what the reconciler deployed on an instance (an earlier run's prod): port 3000 is the
    load balancer's, one project at a time. Compose's networks and volumes go too: each instance's
    engine has 16 networks to give (its pool ``10.91.16.0/20`` in /24s)."""
    for c in api.containers(all=True, filters={"label": OWNER_KEY}):
        api.remove_container(c["Id"], force=True, v=True)
    for n in api.networks(filters={"label": COMPOSE_PROJECT}):
        with suppress(docker.errors.APIError):  # still used by a container of someone else's
            api.remove_network(n["Id"])
    for v in api.volumes(filters={"label": COMPOSE_PROJECT}).get("Volumes") or []:
        with suppress(docker.errors.APIError):
            api.remove_volume(v["Name"], force=True)


def running(api: docker.APIClient, env: Env) -> dict[str, dict[str, Any]]:
    """service -> its container (listing entry) in the test's project on one engine."""
    found = api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT}={env.copy.project}"})
    return {str(c["Labels"][COMPOSE_SERVICE]): c for c in found}


def fleet_copy(env: Env) -> Env:
    """``env`` (a copy of environments/prod) publishing the frontend on the target group's port."""

    def publish(data: Any) -> None:
        data["services"]["frontend"]["ports"] = ["${FRONTEND_PORT}:3000"]

    env.copy.edit_compose(publish)
    return env


@dataclass
class Load:
    """About 20 requests a second through the load balancer, bounded in count and time."""

    url: str = LB
    interval: float = 0.05
    limit: int = 6000
    results: list[tuple[int, str]] = field(default_factory=list)  # (status or 0, version or the error)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _one(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                body = resp.read().decode()
                version = next((ln.split("=", 1)[1] for ln in body.splitlines() if "APP_VERSION=" in ln), "?")
                return resp.status, version
        except urllib.error.HTTPError as e:
            return e.code, e.reason
        except OSError as e:
            return 0, str(e)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.results) < self.limit:
            self.results.append(self._one())
            self._stop.wait(self.interval)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def failed(self) -> list[tuple[int, str]]:
        return [r for r in self.results if r[0] != 200]

    @property
    def versions(self) -> set[str]:
        return {v for code, v in self.results if code == 200}
