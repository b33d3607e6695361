"""What is wrong with a fleet's instance that the reconciler cannot fix, as data. Pure.

Some instances cannot be brought to the desired state whatever is applied to them: their Docker
engine cannot be reached (over ssh) tick after tick, their disk is full, or a service never
becomes healthy there while the same revision is healthy on the others. Such an instance is
marked unhealthy in its Auto Scaling group (SetInstanceHealth) so that the group replaces it
(:class:`~reconciler.core.rollout_actions.MarkUnhealthy`). A :class:`Trouble` says which of
these it is; an :class:`InstanceTrouble` is one instance's, as one observation or one apply
found it, with how many ticks in a row its engine was found unreachable (the loop remembers
them in the environment's status, so a restart does not start the count again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from reconciler.core.fleet import RolloutSpec


class Trouble(str, Enum):
    ENGINE_UNREACHABLE = "EngineUnreachable"  # its Docker engine could not be read (ssh, the daemon down)
    DISK_FULL = "DiskFull"  # the engine answered "no space left on device"
    HEALTH_CHECK_FAILED = "HealthCheckFailed"  # its health gate failed while the revision passed on others

    @property
    def text(self) -> str:
        return {
            Trouble.ENGINE_UNREACHABLE: "engine unreachable",
            Trouble.DISK_FULL: "disk full",
            Trouble.HEALTH_CHECK_FAILED: "health check failed",
        }[self]


@dataclass(frozen=True)
class InstanceTrouble:
    """One instance of fleet ``fleet`` that cannot be reconciled, and why."""

    fleet: str  # the Environment hosts entry, e.g. web
    instance: str  # i-0abc...
    trouble: Trouble
    detail: str  # the error as the engine or the check gave it (redacted by whoever made it)
    docker_url: str = ""  # where its engine is reached, e.g. ssh://ec2-user@10.0.1.11
    ticks: int = 1  # consecutive ticks it was found so (this one included)
    passed_on: tuple[str, ...] = ()  # the instances the same revision passed on (a failed apply)

    def describe(self) -> str:
        """``engine unreachable for 3 ticks in a row (ssh://root@10.90.1.4)``; ``health check failed while
        the same revision passed on i-0abc``."""
        where = f" ({self.docker_url})" if self.docker_url else ""
        if self.trouble is Trouble.ENGINE_UNREACHABLE:
            times = "1 tick" if self.ticks == 1 else f"{self.ticks} ticks in a row"
            return f"{self.trouble.text} for {times}{where}"
        passed = f" while the same revision passed on {', '.join(self.passed_on)}" if self.passed_on else ""
        return f"{self.trouble.text}{where}{passed}"


#: How an engine says its disk (or its data root's file system) is full: ENOSPC's message as Docker,
#: containerd and Compose write it, on pull, create and start.
_DISK_FULL = re.compile(r"no space left on device", re.IGNORECASE)


def disk_full(error: str) -> bool:
    """Whether an engine's error text is ENOSPC (the instance's disk, not the revision, is at fault)."""
    return bool(_DISK_FULL.search(error))


def unreachable_ticks(rollout: RolloutSpec) -> int | None:
    """``spec.rollout.replaceUnhealthy.unreachableTicks`` (None: ``replaceUnhealthy: false``)."""
    setting = rollout.replace_unhealthy
    return setting.unreachable_ticks if setting is not None else None


__all__ = ["InstanceTrouble", "Trouble", "disk_full", "unreachable_ticks"]
