"""Auto Scaling, EC2, ELBv2 and CloudWatch: what a fleet is made of, read and changed. Does I/O (boto3).

:class:`FleetClients` are the four clients (built by :func:`make_fleet_clients`
only for an environment with a fleet). :class:`FleetReader` makes the reads of
one observation: one DescribeAutoScalingGroups for every group, one
DescribeTargetHealth per target group, one DescribeAlarms for every alarm; what
never changes is read once per process and kept (an instance's addresses,
DescribeInstances; a target group's port, name and deregistration delay,
DescribeTargetGroups and DescribeTargetGroupAttributes). :class:`FleetWriter`
makes the changes of a rollout (RegisterTargets, DeregisterTargets). Reads and
writes are retried on throttling and 5xx as SSM's are (:mod:`.retrying`);
errors are :class:`~reconciler.core.errors.TemporaryError` /
:class:`~reconciler.core.errors.PermanentError` naming the resource and the endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.drivers.aws.clients import client_config
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import READ_RETRY_BUDGET, RateLimiter, read_retrying

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

R = TypeVar("R")

MISSING_TARGET_GROUP = frozenset({"TargetGroupNotFound", "TargetGroupNotFoundException"})
ALARM_NAMES_PER_CALL = 100  # DescribeAlarms AlarmNames maximum
INSTANCE_IDS_PER_CALL = 200


@dataclass(frozen=True)
class FleetClients:
    autoscaling: AutoScalingClient
    ec2: EC2Client
    elbv2: ElasticLoadBalancingv2Client
    cloudwatch: CloudWatchClient

    def all(self) -> tuple[Any, ...]:
        return (self.autoscaling, self.ec2, self.elbv2, self.cloudwatch)

    def close(self) -> None:
        for client in self.all():
            client.close()


def make_fleet_clients(session: boto3.Session, region: str, endpoint_url: str | None) -> FleetClients:
    """The fleet's clients in ``region`` (``endpoint_url``: moto in the sandbox)."""
    cfg = client_config()
    with translate_errors(f"aws {region}", endpoint=endpoint_url or ""):

        def make(service: str) -> Any:
            return session.client(service, region_name=region, endpoint_url=endpoint_url, config=cfg)  # type: ignore[call-overload]

        return FleetClients(make("autoscaling"), make("ec2"), make("elbv2"), make("cloudwatch"))


@dataclass(frozen=True)
class TargetGroupInfo:
    arn: str
    name: str
    port: int
    deregistration_delay: float


@dataclass
class FleetMemo:
    """What does not change for the life of a process: an instance's addresses (fixed while it
    lives) and a found target group's name, port and deregistration delay. Shared by the readers of
    one AWS endpoint and region (:func:`memo_of`), so a loop whose every tick opens its clients anew
    asks for them once, not every tick. A target group that does not exist is not kept (it may be
    created)."""

    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    target_groups: dict[str, TargetGroupInfo] = field(default_factory=dict)


_MEMOS: dict[tuple[str, str], FleetMemo] = {}
_MEMOS_LOCK = threading.Lock()


def memo_of(clients: FleetClients) -> FleetMemo:
    """The process's memo for the endpoint and region of ``clients``."""
    key = (endpoint_of(clients.ec2), str(getattr(clients.ec2.meta, "region_name", "")))
    with _MEMOS_LOCK:
        return _MEMOS.setdefault(key, FleetMemo())


class FleetReader:
    """The reads of a fleet (works on read-only clients); keeps what never changes (``memo``: by
    default the process's for these clients' endpoint and region)."""

    def __init__(
        self,
        clients: FleetClients,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: float = READ_RETRY_BUDGET,
        memo: FleetMemo | None = None,
    ) -> None:
        self._c = clients
        self._sleep, self._clock, self._budget = sleep, clock, budget
        memo = memo if memo is not None else memo_of(clients)
        self._instances = memo.instances
        self._found_groups = memo.target_groups
        self._target_groups: dict[str, TargetGroupInfo | None] = dict(memo.target_groups)

    @property
    def clients(self) -> FleetClients:
        return self._c

    def _read(self, call: Callable[[], R]) -> R:
        return read_retrying(call, sleep=self._sleep, clock=self._clock, budget=self._budget)

    def groups(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each named Auto Scaling group as AWS describes it (absent when it does not exist)."""
        if not names:
            return {}
        client = self._c.autoscaling
        found: dict[str, dict[str, Any]] = {}
        with translate_errors(f"autoscaling group {names[0]}", endpoint=endpoint_of(client)):
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"AutoScalingGroupNames": list(names)}
                if token:
                    kwargs["NextToken"] = token
                page = self._read(partial(client.describe_auto_scaling_groups, **kwargs))
                for group in page.get("AutoScalingGroups", []):
                    found[str(group["AutoScalingGroupName"])] = dict(group)
                token = page.get("NextToken")
                if not token:
                    return found

    def instances(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each instance's addresses and launch time (DescribeInstances once per instance and process)."""
        wanted = sorted(set(ids))
        unknown = [i for i in wanted if i not in self._instances]
        client = self._c.ec2
        for start in range(0, len(unknown), INSTANCE_IDS_PER_CALL):
            chunk = unknown[start : start + INSTANCE_IDS_PER_CALL]
            with translate_errors(f"ec2 instance {chunk[0]}", endpoint=endpoint_of(client)):
                try:
                    resp = self._read(lambda chunk=chunk: client.describe_instances(InstanceIds=chunk))  # type: ignore[misc]
                except ClientError as exc:
                    if error_code(exc) != "InvalidInstanceID.NotFound":
                        raise
                    continue  # gone between the two calls: not a host
            for reservation in resp.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    info = {
                        "PrivateIpAddress": str(inst.get("PrivateIpAddress") or ""),
                        "PrivateDnsName": str(inst.get("PrivateDnsName") or ""),
                        "LaunchTime": str(inst.get("LaunchTime") or ""),
                    }
                    if info["PrivateIpAddress"]:  # an instance without one yet is asked again next time
                        self._instances[str(inst["InstanceId"])] = info
        return {i: self._instances[i] for i in wanted if i in self._instances}

    def target_group(self, arn: str) -> TargetGroupInfo | None:
        """A target group's name, port and deregistration delay (read once); None when it does not exist."""
        if arn not in self._target_groups:
            client = self._c.elbv2
            with translate_errors(f"target group {arn}", endpoint=endpoint_of(client)):
                try:
                    groups = self._read(lambda: client.describe_target_groups(TargetGroupArns=[arn]))
                    attrs = self._read(lambda: client.describe_target_group_attributes(TargetGroupArn=arn))
                except ClientError as exc:
                    if error_code(exc) in MISSING_TARGET_GROUP:
                        self._target_groups[arn] = None
                        return None
                    raise
            group = groups["TargetGroups"][0]
            values = {a["Key"]: a["Value"] for a in attrs.get("Attributes", []) if "Key" in a and "Value" in a}
            info = TargetGroupInfo(
                arn=arn,
                name=str(group.get("TargetGroupName", "")),
                port=int(group.get("Port") or 0),
                deregistration_delay=float(values.get("deregistration_delay.timeout_seconds", "300")),
            )
            self._target_groups[arn] = self._found_groups[arn] = info
        return self._target_groups[arn]

    def target_health(self, arn: str) -> list[dict[str, Any]] | None:
        """The target group's targets and their health (one DescribeTargetHealth); None when it does not exist."""
        client = self._c.elbv2
        with translate_errors(f"target group {arn}", endpoint=endpoint_of(client)):
            try:
                resp = self._read(lambda: client.describe_target_health(TargetGroupArn=arn))
            except ClientError as exc:
                if error_code(exc) in MISSING_TARGET_GROUP:
                    return None
                raise
        return [dict(d) for d in resp.get("TargetHealthDescriptions", [])]

    def instance_gone(self, instance_id: str) -> bool:
        """The instance left its group or is on its way out (Terminating, Terminated): one
        DescribeAutoScalingInstances, asked only after something failed on it."""
        client = self._c.autoscaling
        with translate_errors(f"instance {instance_id}", endpoint=endpoint_of(client)):
            resp = self._read(lambda: client.describe_auto_scaling_instances(InstanceIds=[instance_id]))
        found = resp.get("AutoScalingInstances", [])
        return not found or str(found[0].get("LifecycleState", "")).startswith("Terminat")

    def alarms(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The named metric alarms (absent when they do not exist): one DescribeAlarms per 100 names."""
        client = self._c.cloudwatch
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), ALARM_NAMES_PER_CALL):
            chunk = list(names[start : start + ALARM_NAMES_PER_CALL])
            with translate_errors(f"cloudwatch alarm {chunk[0]}", endpoint=endpoint_of(client)):
                resp = self._read(lambda chunk=chunk: client.describe_alarms(AlarmNames=chunk))  # type: ignore[misc]
            for alarm in [*resp.get("MetricAlarms", []), *resp.get("CompositeAlarms", [])]:
                found[str(alarm["AlarmName"])] = dict(alarm)
        return found


class PacedWriter:
    """Writes to one service of a fleet (:attr:`SERVICE`) that are idempotent in AWS, so retried like
    reads (throttling, 5xx, a dropped connection), each paced by a limiter (:attr:`RATE` a second)."""

    SERVICE = "elbv2"
    RATE = 10.0

    def __init__(
        self,
        clients: FleetClients,
        limiter: RateLimiter | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._c = clients
        self._limiter = limiter or RateLimiter(self.RATE, burst=5)
        self._sleep, self._clock = sleep, clock

    def _write(self, resource: str, call: Callable[[], object]) -> None:
        client = getattr(self._c, self.SERVICE)

        def once() -> object:
            self._limiter.acquire()
            return call()

        with translate_errors(resource, endpoint=endpoint_of(client)):
            read_retrying(once, sleep=self._sleep, clock=self._clock)


class FleetWriter(PacedWriter):
    """The changes a rollout makes to the load balancer (register and deregister are idempotent)."""

    def deregister(self, arn: str, instances: Sequence[str], port: int | None = None) -> None:
        """Deregister; a target that is not registered (any more) is already where it should be: some
        implementations (moto) answer InvalidTarget for it where AWS answers nothing."""
        targets: Any = _targets(instances, port)
        try:
            self._write(
                f"target group {arn}", lambda: self._c.elbv2.deregister_targets(TargetGroupArn=arn, Targets=targets)
            )
        except PermanentError as exc:
            if "(InvalidTarget)" not in exc.message:
                raise

    def register(self, arn: str, instances: Sequence[str], port: int | None = None) -> None:
        targets: Any = _targets(instances, port)
        self._write(f"target group {arn}", lambda: self._c.elbv2.register_targets(TargetGroupArn=arn, Targets=targets))


def _targets(instances: Sequence[str], port: int | None) -> list[dict[str, Any]]:
    return [{"Id": i, **({"Port": port} if port else {})} for i in instances]
