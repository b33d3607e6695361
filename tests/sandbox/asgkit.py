"""A private AWS endpoint for the Auto Scaling tests: moto on a free port, the sandbox's AWS front on another in a
thread (its book in a temporary file), and throwaway groups seeded as the fleet's is (launch template version
1, a target group attached, two instances), reached through the front with boto3. Nothing of the shared
sandbox is touched: no fleet lock needed. Its fixtures (``endpoint``: one private moto and front per test module,
``front``, ``g``: a fresh group) are a plugin of tests/conftest.py."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler.sandbox import moto
from reconciler.sandbox.fleet import aws
from reconciler.sandbox.fleet.layout import FleetGroup
from reconciler.sandbox.front import Front
from reconciler.sandbox.layout import REGION
from reconciler.sandbox.processes import Clock

AMI_2 = "ami-12c6146b"  # another of moto's images: version 2 of the template
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION,  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
    return got


@dataclass
class Endpoint:
    """moto itself and the front before it."""

    moto_url: str
    state_dir: Path

    @contextlib.contextmanager
    def front(self, replace_after: float = 0.2, state: Path | None = None) -> Iterator[Front]:
        """A front of its own (its book in a new file unless ``state`` names one)."""
        book = state or self.state_dir / f"asg-{uuid.uuid4().hex[:8]}.json"
        server = Front(free_port(), self.moto_url, self.state_dir / "balancers", book, replace_after=replace_after)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@contextlib.contextmanager
def private_moto(state_dir: Path) -> Iterator[Endpoint]:
    port, clock = free_port(), Clock()
    moto.ensure_moto(state_dir, port, clock)
    try:
        yield Endpoint(f"http://127.0.0.1:{port}", state_dir)
    finally:
        moto.DAEMON.stop(state_dir, clock)


@dataclass
class Group:
    """A throwaway group as the fleet's: its clients go through the front."""

    name: str
    template: str
    target_group: str
    url: str  # the front's

    def aws(self, service: str) -> Any:
        return client(service, self.url)

    def describe(self) -> dict[str, Any]:
        found = self.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])
        return dict(found["AutoScalingGroups"][0])

    def states(self) -> dict[str, str]:
        """instance -> LifecycleState, as DescribeAutoScalingGroups says."""
        return {i["InstanceId"]: i["LifecycleState"] for i in self.describe()["Instances"]}

    def versions(self) -> dict[str, str]:
        return {i["InstanceId"]: i["LaunchTemplate"]["Version"] for i in self.describe()["Instances"]}

    def registered(self, url: str | None = None) -> set[str]:
        health = client("elbv2", url or self.url).describe_target_health(TargetGroupArn=self.target_group)
        return {h["Target"]["Id"] for h in health["TargetHealthDescriptions"]}

    def hook(self, name: str = "launch", timeout: int = 600, default: str = "ABANDON") -> None:
        self.aws("autoscaling").put_lifecycle_hook(AutoScalingGroupName=self.name, LifecycleHookName=name,
                                                   LifecycleTransition=LAUNCHING, HeartbeatTimeout=timeout,
                                                   DefaultResult=default)  # fmt: skip

    def complete(self, instance: str, result: str = "CONTINUE", hook: str = "launch") -> None:
        asg = self.aws("autoscaling")
        asg.complete_lifecycle_action(AutoScalingGroupName=self.name, LifecycleHookName=hook, InstanceId=instance,
                                      LifecycleActionResult=result)  # fmt: skip

    def terminate(self, instance: str) -> None:
        asg = self.aws("autoscaling")
        asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=False)

    def new_one(self, before: set[str], timeout: float = 10.0) -> str:
        """The one instance the group has now that it had not in ``before``."""
        found = until("a new instance", lambda: set(self.states()) - before, timeout)
        assert len(found) == 1, found
        return str(found.pop())


@contextlib.contextmanager
def group(endpoint: Endpoint, front: Front) -> Iterator[Group]:
    """A group seeded in moto directly (as ``sandbox up`` does), then used through the front."""
    prefix = f"t{uuid.uuid4().hex[:6]}"
    made = FleetGroup(f"{prefix}-asg", prefix, desired=2, min_size=1, max_size=4, port=3000, health_path="/health")
    with moto.clients(endpoint.moto_url) as c:
        aws.seed(c, made, lambda _: None)
        arn = c.elbv2.describe_target_groups(Names=[made.target_group])["TargetGroups"][0]["TargetGroupArn"]
    try:
        yield Group(made.name, made.template, arn, f"http://127.0.0.1:{front.server_address[1]}")
    finally:
        with moto.clients(endpoint.moto_url) as c:
            aws.remove(c, made)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with private_moto(tmp_path_factory.mktemp("asg")) as made:
        yield made


@pytest.fixture
def front(endpoint: Endpoint) -> Iterator[Front]:
    with endpoint.front() as server:
        yield server


@pytest.fixture
def g(endpoint: Endpoint, front: Front) -> Iterator[Group]:
    with group(endpoint, front) as made:
        yield made
