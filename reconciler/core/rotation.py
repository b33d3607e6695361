"""What the spec says of instance rotation: the launch template a fleet runs, the launch hook, the rules. Pure.

:class:`LaunchTemplateRef` is a fleet's ``launchTemplate`` (a name and a fixed version
number); :class:`LaunchHookSpec` the launch lifecycle hook that holds a new instance in
Pending:Wait until the reconciler has converged it; :class:`UnhealthyReplacement` when an
instance that cannot be reconciled is replaced; :class:`Rotation` who replaces the
instances on another version (the reconciler, or AWS's instance refresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

DEFAULT_LAUNCH_HOOK = "reconciler-launch"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"  # the lifecycle transition of a launch hook


class Rotation(str, Enum):
    """Who replaces a fleet's instances that run another launch template version."""

    REPLACE = "replace"  # the reconciler: terminate a batch, converge each replacement
    INSTANCE_REFRESH = "instanceRefresh"  # AWS's StartInstanceRefresh


@dataclass(frozen=True)
class LaunchTemplateRef:
    """A launch template and one of its versions (a number: ``$Latest``/``$Default`` are refused)."""

    name: str  # popcon-prod-lt
    version: str  # "7": digits, as the Auto Scaling API writes it

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class LaunchHookSpec:
    """The group's launch lifecycle hook the reconciler completes (CONTINUE once converged, else ABANDON)."""

    name: str = DEFAULT_LAUNCH_HOOK
    timeout: float = 600.0  # HeartbeatTimeout, seconds


@dataclass(frozen=True)
class UnhealthyReplacement:
    """When an instance that cannot be reconciled is marked unhealthy for the group to replace it."""

    unreachable_ticks: int = 3


DEFAULT_UNHEALTHY = UnhealthyReplacement()  # replaceUnhealthy left out: enabled, 3 ticks
