"""The sandbox's fleet behaves as an Auto Scaling group behind an ALB when instances come and go: a new instance
held by a launch hook gets its engine (the reconciler converges it over ssh) while the load balancer never
lists it, and gets requests only after CompleteLifecycleAction CONTINUE; an instance marked Unhealthy is
replaced, its engine removed and its server drained from the load balancer.

Run under the fleet lock (``flock /work/fleet.lock``): each test adds instances to popcon-prod-asg and
puts the group back as it found it (no hook left, the instances it added terminated with the desired
capacity decremented, the load balancer back to the group's instances). The private-moto tests of the
same behaviours are in tests/sandbox/test_autoscaling.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet import haproxy, netns
from reconciler.sandbox.fleet.layout import GROUP, NETNS_PREFIX, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world
HOOK = "sandbox-test-launch"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


def _aws(sandbox: SandboxInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=sandbox.moto_url, region_name=sandbox.region,  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def _until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)
    return got


def _states(sandbox: SandboxInfo) -> dict[str, str]:
    group = _aws(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])
    return {i["InstanceId"]: i["LifecycleState"] for i in group["AutoScalingGroups"][0]["Instances"]}


def _ip(sandbox: SandboxInfo, instance: str) -> str:
    (reservation,) = _aws(sandbox, "ec2").describe_instances(InstanceIds=[instance])["Reservations"]
    return str(reservation["Instances"][0].get("PrivateIpAddress", ""))


def _engine_answers(ip: str) -> bool:
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


def _servers() -> set[str]:
    return set(haproxy.Runtime().servers(GROUP.target_group))


def _registered(sandbox: SandboxInfo) -> set[str]:
    elbv2 = _aws(sandbox, "elbv2")
    arn = elbv2.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]["TargetGroupArn"]
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] != "draining"}


@pytest.fixture
def group(sandbox: SandboxInfo) -> Iterator[set[str]]:
    """The group's instances as found (2 InService); afterwards the hook deleted and the ones added gone."""
    found = set(_until("2 instances in service", lambda: len(s := _states(sandbox)) == 2 and s))
    asg = _aws(sandbox, "autoscaling")
    try:
        yield found
    finally:
        asg.delete_lifecycle_hook(AutoScalingGroupName=GROUP.name, LifecycleHookName=HOOK)
        for added in sorted(set(_states(sandbox)) - found):
            asg.terminate_instance_in_auto_scaling_group(InstanceId=added, ShouldDecrementDesiredCapacity=True)
        _until("the group back to its instances", lambda: set(_states(sandbox)) == found)
        _until("the load balancer back to them", lambda: _servers() <= found)


def test_a_waiting_instance_converges_but_takes_no_traffic_until_continue(
    sandbox: SandboxInfo, group: set[str]
) -> None:
    asg = _aws(sandbox, "autoscaling")
    asg.put_lifecycle_hook(AutoScalingGroupName=GROUP.name, LifecycleHookName=HOOK, HeartbeatTimeout=600,
                           LifecycleTransition=LAUNCHING, DefaultResult="ABANDON")  # fmt: skip
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:  # the load balancer's servers, about every 0.1 s
        while not stop.is_set():
            seen.update(_servers())
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=3)
        (new,) = _until("a new instance", lambda: set(_states(sandbox)) - group)
        assert _states(sandbox)[new] == "Pending:Wait"
        ip = _until("its address", lambda: _ip(sandbox, new))
        _until(f"the engine of {new} over ssh", lambda: _engine_answers(ip), timeout=120)
        time.sleep(2.0)  # the agent's polls and the load balancer's propagation delay, twice over
        assert new not in _registered(sandbox) and _states(sandbox)[new] == "Pending:Wait"
    finally:
        stop.set()
        sampler.join()
    assert new not in seen and seen >= group, seen
    asg.complete_lifecycle_action(AutoScalingGroupName=GROUP.name, LifecycleHookName=HOOK, InstanceId=new,
                                  LifecycleActionResult="CONTINUE")  # fmt: skip
    assert _states(sandbox)[new] == "InService" and new in _registered(sandbox)
    _until("the load balancer to take it", lambda: new in _servers())


def test_an_unhealthy_instance_is_replaced_and_its_engine_and_server_go(sandbox: SandboxInfo, group: set[str]) -> None:
    asg = _aws(sandbox, "autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=3)
    (sick,) = _until("a third instance", lambda: set(_states(sandbox)) - group)
    _until("its server in the load balancer", lambda: sick in _servers())
    asg.set_instance_health(InstanceId=sick, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    (replacement,) = _until("its replacement", lambda: set(_states(sandbox)) - group - {sick}, timeout=30)
    assert sick not in _states(sandbox) and sick not in _registered(sandbox)
    assert _states(sandbox)[replacement] == "InService"
    _until("the sick one's server gone", lambda: sick not in _servers())
    _until("the sick one's engine gone", lambda: NETNS_PREFIX + sick not in netns.namespaces())
    _until("the replacement's server", lambda: replacement in _servers())
