"""What moto says of a fleet group: its instances and its target groups' registrations. Reads through boto3 clients.

:func:`read` makes four calls per group and poll (DescribeAutoScalingGroups,
DescribeInstances for the addresses, DescribeTargetGroups with
DescribeTargetHealth for each attached target group, and its attributes for
the deregistration delay) and returns plain frozen data: which instances
should have an engine (EC2 says pending or running) and which targets are
registered (moto lists a registered target as ``healthy`` at once, a
deregistered one not at all, and keeps a terminated instance registered:
:attr:`Target.in_service` tells). :func:`target_group` reads one target
group by its ARN, whatever group it belongs to (a test's own load balancer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_elbv2.type_defs import TargetGroupTypeDef

    from reconciler.sandbox.moto import MotoClients

RUNNING_STATES = frozenset({"pending", "running"})  # an instance with a machine behind it


@dataclass(frozen=True)
class FleetInstance:
    instance_id: str
    private_ip: str
    lifecycle_state: str  # InService, Pending, Standby, Terminating ... (Auto Scaling's)
    health_status: str  # Healthy | Unhealthy (Auto Scaling's)
    ec2_state: str  # pending, running, shutting-down, terminated ...

    @property
    def has_engine(self) -> bool:
        return self.ec2_state in RUNNING_STATES and bool(self.private_ip)


@dataclass(frozen=True)
class Target:
    instance_id: str
    address: str  # private IP ("" when EC2 does not know the instance)
    port: int
    ec2_state: str = "running"

    @property
    def in_service(self) -> bool:
        """An ALB routes only to running instances (moto keeps a terminated one registered)."""
        return self.ec2_state == "running" and bool(self.address)


@dataclass(frozen=True)
class TargetGroupView:
    arn: str
    name: str
    port: int
    health_path: str
    interval: float
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay: float
    registered: tuple[Target, ...]


@dataclass(frozen=True)
class GroupView:
    name: str
    exists: bool
    instances: tuple[FleetInstance, ...] = ()
    target_groups: tuple[TargetGroupView, ...] = ()
    desired: int = 0
    min_size: int = 0
    max_size: int = 0


def _addresses(c: MotoClients, ids: set[str]) -> dict[str, tuple[str, str]]:
    """instance id -> (private IP, EC2 state)."""
    if not ids:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for reservation in c.ec2.describe_instances(InstanceIds=sorted(ids))["Reservations"]:
        for i in reservation["Instances"]:
            found[i["InstanceId"]] = (i.get("PrivateIpAddress", ""), i["State"]["Name"])
    return found


def _registered(c: MotoClients, tg: TargetGroupTypeDef) -> list[tuple[str, int]]:
    """(instance id, port) of the targets registered (moto: ``healthy`` at once; the AWS front: as
    the load balancer sees them -- ``initial``, ``unhealthy`` -- but registered all the same)."""
    health = c.elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    return [
        (h["Target"]["Id"], int(h["Target"].get("Port", tg.get("Port", 0))))
        for h in health
        if h.get("TargetHealth", {}).get("State") in ("healthy", "initial", "unhealthy")
    ]


def _target_group(c: MotoClients, tg: TargetGroupTypeDef, registrations: list[tuple[str, int]],
                  where: dict[str, tuple[str, str]]) -> TargetGroupView:  # fmt: skip
    attributes = c.elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
    delay = next((a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), "300")
    registered = []
    for i, port in sorted(registrations):
        address, state = where.get(i, ("", "terminated"))
        registered.append(Target(i, address, port, state))
    return TargetGroupView(
        arn=tg["TargetGroupArn"],
        name=tg["TargetGroupName"],
        port=int(tg.get("Port", 0)),
        health_path=tg.get("HealthCheckPath", "/"),
        interval=float(tg.get("HealthCheckIntervalSeconds", 30)),
        healthy_threshold=int(tg.get("HealthyThresholdCount", 5)),
        unhealthy_threshold=int(tg.get("UnhealthyThresholdCount", 2)),
        deregistration_delay=float(delay),
        registered=tuple(registered),
    )


def target_group(c: MotoClients, arn: str) -> TargetGroupView:
    """One target group and its registrations, whatever group it belongs to (a test's load balancer)."""
    (tg,) = c.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    registrations = _registered(c, tg)
    return _target_group(c, tg, registrations, _addresses(c, {i for i, _ in registrations}))


def read(c: MotoClients, group_name: str) -> GroupView:
    """The group's instances and its target groups' registrations, as moto has them now."""
    groups = c.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    if not groups:
        return GroupView(group_name, exists=False)
    group = groups[0]
    members = group.get("Instances", [])
    arns = list(group.get("TargetGroupARNs", []))
    registrations: dict[str, list[tuple[str, int]]] = {}
    described = c.elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"] if arns else []
    for tg in described:
        registrations[tg["TargetGroupArn"]] = _registered(c, tg)
    ids = {m["InstanceId"] for m in members} | {i for regs in registrations.values() for i, _ in regs}
    where = _addresses(c, ids)
    instances = []
    for m in sorted(members, key=lambda m: m["InstanceId"]):
        address, state = where.get(m["InstanceId"], ("", "terminated"))
        instances.append(FleetInstance(m["InstanceId"], address, m["LifecycleState"], m["HealthStatus"], state))
    views = [_target_group(c, tg, registrations[tg["TargetGroupArn"]], where) for tg in described]
    return GroupView(group_name, True, tuple(instances), tuple(views), group["DesiredCapacity"], group["MinSize"],
                     group["MaxSize"])  # fmt: skip
