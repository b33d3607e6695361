"""A fleet as observed: its Auto Scaling group's instances, its target groups' health, its alarms. Pure.

Read every observation (one DescribeAutoScalingGroups, one DescribeTargetHealth
per target group, one DescribeAlarms; an instance's addresses once, as they never
change). An instance serves when it is InService and Healthy in the group: only
those are the fleet's hosts. The others (Pending, Terminating, Standby, unhealthy)
are shown and not deployed to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.core.launch_observed import NO_LAUNCH, ObservedLaunch

#: Lifecycle states of an instance that serves (when also Healthy).
IN_SERVICE = "InService"
#: Target states of an instance that receives traffic (or is about to).
TARGET_SERVING = ("healthy", "initial")


@dataclass(frozen=True)
class ObservedInstance:
    id: str
    lifecycle: str  # InService | Pending | Pending:Wait | Terminating | Standby | ...
    health: str  # Healthy | Unhealthy (the group's view)
    private_ip: str = ""
    private_dns: str = ""
    zone: str = ""
    launch_template: str = ""  # name:version as the group reports it ("" for a launch configuration)
    launched: str = ""  # ISO 8601, for the order instances are taken in

    @property
    def serves(self) -> bool:
        return self.lifecycle == IN_SERVICE and self.health == "Healthy" and bool(self.private_ip)

    @property
    def state(self) -> str:
        """How it reads in a plan: ``InService``, ``InService, Unhealthy``, ``Pending``..."""
        if self.lifecycle == IN_SERVICE and self.health != "Healthy":
            return f"{self.lifecycle}, {self.health}"
        return self.lifecycle


@dataclass(frozen=True)
class ObservedTarget:
    instance: str
    port: int
    state: str  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str = ""


@dataclass(frozen=True)
class ObservedTargetGroup:
    arn: str
    name: str
    port: int = 0
    deregistration_delay: float = 300.0  # AWS's default
    targets: tuple[ObservedTarget, ...] = ()
    error: str | None = None  # could not be read (does not exist, denied)

    def target(self, instance: str) -> ObservedTarget | None:
        return next((t for t in self.targets if t.instance == instance), None)


@dataclass(frozen=True)
class ObservedAlarm:
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str = ""


@dataclass(frozen=True)
class ObservedFleet:
    """One fleet (an Environment hosts entry fromAutoScalingGroup) as observed."""

    name: str  # the hosts entry, e.g. web
    group: str  # the Auto Scaling group
    instances: tuple[ObservedInstance, ...] = ()  # in the order they are taken: oldest first
    desired_capacity: int = 0
    target_groups: tuple[ObservedTargetGroup, ...] = ()
    alarms: tuple[ObservedAlarm, ...] = ()
    missing_alarms: tuple[str, ...] = ()  # named by the rollout, not found
    error: str | None = None  # the group could not be read or does not exist
    docker_urls: Mapping[str, str] = field(default_factory=dict)  # instance id -> its engine's URL
    launch: ObservedLaunch = NO_LAUNCH  # the group's template and launch hook (rotation)

    @property
    def serving(self) -> tuple[ObservedInstance, ...]:
        """The instances that are the fleet's hosts: InService and Healthy, with an address."""
        return tuple(i for i in self.instances if i.serves)

    def instance(self, instance_id: str) -> ObservedInstance | None:
        return next((i for i in self.instances if i.id == instance_id), None)
