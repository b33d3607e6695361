"""Observe the fleets of an environment: each group's instances, its target groups' health, the alarms.
Does I/O (through :class:`~reconciler.drivers.aws.fleet.FleetReader`; the parsing here is pure).

An idle observation costs one DescribeAutoScalingGroups for every group, one
DescribeTargetHealth per target group and one DescribeAlarms; an instance's
addresses and a target group's settings are read once per process. A group,
a target group or an alarm that does not exist is recorded (the planner makes
it a problem naming it) rather than raised, so one missing resource does not
hide the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.fleet import RolloutSpec
from reconciler.core.fleet_observed import (
    ObservedAlarm,
    ObservedFleet,
    ObservedInstance,
    ObservedTarget,
    ObservedTargetGroup,
)
from reconciler.core.model import DesiredState
from reconciler.drivers.aws.fleet import FleetReader
from reconciler.drivers.aws.lifecycle import LaunchReader
from reconciler.observe.rotation import observe_launch


def _instance(raw: Mapping[str, Any], addresses: Mapping[str, Mapping[str, Any]]) -> ObservedInstance:
    instance_id = str(raw["InstanceId"])
    template = raw.get("LaunchTemplate") or {}
    found = addresses.get(instance_id, {})
    return ObservedInstance(
        id=instance_id,
        lifecycle=str(raw.get("LifecycleState", "")),
        health=str(raw.get("HealthStatus", "")),
        private_ip=str(found.get("PrivateIpAddress", "")),
        private_dns=str(found.get("PrivateDnsName", "")),
        zone=str(raw.get("AvailabilityZone", "")),
        launch_template=f"{template.get('LaunchTemplateName', '')}:{template.get('Version', '')}" if template else "",
        launched=str(found.get("LaunchTime", "")),
    )


def _target_group(reader: FleetReader, arn: str) -> ObservedTargetGroup:
    info = reader.target_group(arn)
    health = reader.target_health(arn) if info is not None else None
    if info is None or health is None:
        return ObservedTargetGroup(arn, arn.rsplit("/", 2)[-2] if "/" in arn else arn, error="does not exist")
    targets = tuple(
        sorted(
            (
                ObservedTarget(
                    instance=str(d["Target"]["Id"]),
                    port=int(d["Target"].get("Port") or info.port),
                    state=str(d.get("TargetHealth", {}).get("State", "")),
                    reason=str(d.get("TargetHealth", {}).get("Reason", "")),
                )
                for d in health
            ),
            key=lambda t: (t.instance, t.port),
        )
    )
    return ObservedTargetGroup(arn, info.name, info.port, info.deregistration_delay, targets)


def _alarms(reader: FleetReader, names: Sequence[str]) -> tuple[tuple[ObservedAlarm, ...], tuple[str, ...]]:
    found = reader.alarms(names) if names else {}
    alarms = tuple(
        ObservedAlarm(name, str(found[name].get("StateValue", "")), str(found[name].get("StateReason", "")))
        for name in names
        if name in found
    )
    return alarms, tuple(name for name in names if name not in found)


def observe_fleets(reader: FleetReader, desired: DesiredState) -> dict[str, ObservedFleet]:
    """Each fleet of ``desired`` as its Auto Scaling group, target groups and alarms are now."""
    fleets = desired.fleets
    if not fleets:
        return {}
    rollout: RolloutSpec = desired.rollout
    groups = reader.groups(sorted({h.fleet.group for h in fleets if h.fleet is not None}))
    alarms, missing = _alarms(reader, rollout.alarms)
    observed: dict[str, ObservedFleet] = {}
    read_groups: dict[str, ObservedTargetGroup] = {}
    launches = LaunchReader(reader.clients)
    for host in fleets:
        assert host.fleet is not None
        group = groups.get(host.fleet.group)
        if group is None:
            observed[host.name] = ObservedFleet(host.name, host.fleet.group, error="Auto Scaling group not found")
            continue
        raw_instances = group.get("Instances", [])
        addresses = reader.instances(str(i["InstanceId"]) for i in raw_instances)
        instances = sorted((_instance(i, addresses) for i in raw_instances), key=lambda i: (i.launched, i.id))
        arns = rollout.target_groups or tuple(sorted(group.get("TargetGroupARNs", [])))
        for arn in arns:
            if arn not in read_groups:
                read_groups[arn] = _target_group(reader, arn)
        observed[host.name] = ObservedFleet(
            name=host.name,
            group=host.fleet.group,
            instances=tuple(instances),
            desired_capacity=int(group.get("DesiredCapacity", 0)),
            target_groups=tuple(read_groups[arn] for arn in arns),
            alarms=alarms,
            missing_alarms=missing,
            docker_urls={
                i.id: host.fleet.docker_url(i.id, i.private_ip, i.private_dns) for i in instances if i.private_ip
            },
            launch=observe_launch(launches, host.fleet, rollout, group, instances),
        )
    return observed
