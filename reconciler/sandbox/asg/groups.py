"""The groups as moto has them, and what the sandbox's Auto Scaling does to them in moto. Does I/O (boto3 on moto).

:func:`snapshot` reads every group's members, target groups, launch
template and health check grace period (one paged DescribeAutoScalingGroups);
:func:`launch_hooks` a group's ``autoscaling:EC2_INSTANCE_LAUNCHING`` hooks
(which moto stores and never runs); :func:`resolve` a ``$Latest`` or
``$Default`` version to its number. The changes are the ones AWS's group
makes by itself: :func:`register` and :func:`deregister` a group's
instances in its target groups (only the ones registered are deregistered:
moto refuses the others), :func:`tag_version` (EC2's
``aws:ec2launchtemplate:version`` tag, which moto sets to the default
version), and :func:`terminate` (TerminateInstanceInAutoScalingGroup
without decrementing: moto launches the replacement at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.sandbox.asg.book import LAUNCHING
from reconciler.sandbox.moto import error_code

if TYPE_CHECKING:
    from reconciler.sandbox.moto import MotoClients

VERSION_TAG = "aws:ec2launchtemplate:version"


@dataclass(frozen=True)
class GroupState:
    name: str
    members: frozenset[str]
    target_groups: tuple[str, ...] = ()
    template_id: str = ""  # "" for a launch configuration or a mixed instances policy
    version: str = ""  # as the group names it: "3", "$Latest", "$Default" or ""
    grace: float = 0.0  # HealthCheckGracePeriod
    health: Mapping[str, str] = field(default_factory=dict)  # instance -> Healthy | Unhealthy


def snapshot(c: MotoClients) -> dict[str, GroupState]:
    """Every group, by name."""
    groups: dict[str, GroupState] = {}
    for page in c.autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for g in page["AutoScalingGroups"]:
            template = g.get("LaunchTemplate", {})
            groups[g["AutoScalingGroupName"]] = GroupState(
                g["AutoScalingGroupName"],
                frozenset(i["InstanceId"] for i in g.get("Instances", [])),
                tuple(g.get("TargetGroupARNs", [])),
                template.get("LaunchTemplateId", ""),
                str(template.get("Version", "")),
                float(g.get("HealthCheckGracePeriod", 0) or 0),
                {i["InstanceId"]: i["HealthStatus"] for i in g.get("Instances", [])},
            )
    return groups


def launch_hooks(c: MotoClients, group: str) -> list[tuple[str, float, str]]:
    """(name, heartbeat timeout, default result) of the group's launch hooks."""
    hooks = c.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]
    return [
        (h["LifecycleHookName"], float(h.get("HeartbeatTimeout", 3600)), h.get("DefaultResult", "ABANDON"))
        for h in hooks
        if h.get("LifecycleTransition") == LAUNCHING
    ]


def resolve(c: MotoClients, group: GroupState) -> str:
    """The version number the group launches now ("" when it launches from no template)."""
    if not group.template_id or group.version.isdigit():
        return group.version if group.template_id else ""
    (template,) = c.ec2.describe_launch_templates(LaunchTemplateIds=[group.template_id])["LaunchTemplates"]
    number = template["LatestVersionNumber"] if group.version == "$Latest" else template["DefaultVersionNumber"]
    return str(number)


def tag_version(c: MotoClients, instances: Iterable[str], version: str) -> None:
    ids = sorted(instances)
    if ids and version:
        c.ec2.create_tags(Resources=ids, Tags=[{"Key": VERSION_TAG, "Value": version}])


def _registered(c: MotoClients, arn: str) -> set[str]:
    health = c.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in health}


def deregister(c: MotoClients, target_groups: Iterable[str], instances: Iterable[str]) -> list[str]:
    """Take the instances out of the target groups they are registered in; returns "<id> from <arn>" lines."""
    wanted, done = set(instances), list[str]()
    if not wanted:
        return done
    for arn in target_groups:
        try:
            out = sorted(wanted & _registered(c, arn))
            if out:
                c.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in out])
        except Exception as e:
            if error_code(e) == "TargetGroupNotFound":  # deleted with its group: nothing registered
                continue
            raise
        done += [f"{i} from {arn.rpartition(':')[2]}" for i in out]
    return done


def register(c: MotoClients, target_groups: Iterable[str], instance_id: str) -> None:
    """Register the instance in each target group, on the target group's port."""
    for arn in target_groups:
        (tg,) = c.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        c.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": int(tg.get("Port", 80))}])


def terminate(c: MotoClients, instance_id: str) -> None:
    """Terminated by its group, which launches a replacement (the desired capacity stays)."""
    c.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=instance_id,
                                                           ShouldDecrementDesiredCapacity=False)  # fmt: skip
