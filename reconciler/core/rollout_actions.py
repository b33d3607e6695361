"""The steps of a rollout over a fleet's instances: leave the load balancer, pass the health gate,
re-join, watch the alarms, bake. Pure data.

They change no resource of their own (their Terraform verbs are empty, so the plan's counts
stay the stack changes they carry), except :class:`JoinTargetGroups` of an instance that is out
of its target groups with nothing else to change (a run killed mid-rollout): that one puts
capacity back and counts as a change. Each step is safe to repeat: deregistering a target that is
gone, registering one that is there, asking for health and alarms change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reconciler.core.actions import Action


@dataclass(frozen=True)
class TargetGroupRef:
    arn: str
    name: str
    port: int  # the port the instance is registered on


@dataclass(frozen=True, kw_only=True)
class RolloutStep(Action):
    symbol: ClassVar[str] = "."
    fleet: str  # the Environment hosts entry, e.g. web
    batch: int  # 1-based; 0 for what is not part of a batch (a lone re-join, the bake)


@dataclass(frozen=True, kw_only=True)
class LeaveTargetGroups(RolloutStep):
    """Deregister the instance from every target group and wait until it is drained (the target
    group no longer lists it as draining) or ``drain_timeout`` passed, then a grace period for the
    load balancer's nodes to stop sending (they lag behind the API)."""

    kind: ClassVar[str] = "leave_target_groups"
    symbol: ClassVar[str] = "<"
    instance: str
    target_groups: tuple[TargetGroupRef, ...]
    drain_timeout: float


@dataclass(frozen=True, kw_only=True)
class HealthGate(RolloutStep):
    """The instance's containers healthy, then ``GET http://<address>:<port><path>`` answering 2xx/3xx,
    tried ``attempts`` times ``interval`` seconds apart."""

    kind: ClassVar[str] = "health_gate"
    symbol: ClassVar[str] = "?"
    instance: str
    url: str
    service: str
    attempts: int
    interval: float
    timeout: float


@dataclass(frozen=True, kw_only=True)
class JoinTargetGroups(RolloutStep):
    """Register the instance in every target group and wait until each reports it healthy."""

    kind: ClassVar[str] = "join_target_groups"
    symbol: ClassVar[str] = ">"
    instance: str
    target_groups: tuple[TargetGroupRef, ...]
    restore: bool = False  # out of its target groups with nothing else to do: capacity put back

    @property
    def actions(self) -> tuple[str, ...]:
        return ("update",) if self.restore else ()


@dataclass(frozen=True, kw_only=True)
class CheckAlarms(RolloutStep):
    """None of ``alarms`` is in ALARM (one that already was before the rollout is ignored)."""

    kind: ClassVar[str] = "check_alarms"
    symbol: ClassVar[str] = "!"
    alarms: tuple[str, ...]
    ignored: tuple[str, ...] = ()  # in ALARM before the rollout started: reported, not a reason to roll back


@dataclass(frozen=True, kw_only=True)
class Bake(RolloutStep):
    """Watch ``alarms`` for ``seconds`` after the last batch."""

    kind: ClassVar[str] = "bake"
    symbol: ClassVar[str] = "!"
    alarms: tuple[str, ...]
    seconds: float
    ignored: tuple[str, ...] = ()


ROLLOUT_TYPES: tuple[type[Action], ...] = (LeaveTargetGroups, HealthGate, JoinTargetGroups, CheckAlarms, Bake)


# ---- replacing an instance that cannot be reconciled (issue 15, case 2) ----------------------------


@dataclass(frozen=True, kw_only=True)
class MarkUnhealthy(RolloutStep):
    """SetInstanceHealth ``Unhealthy`` (ShouldRespectGracePeriod false): the Auto Scaling group
    terminates the instance and launches a replacement, which the next ticks converge. Made for an
    instance that cannot be reconciled (:mod:`reconciler.core.instance_health`); safe to repeat."""

    kind: ClassVar[str] = "mark_unhealthy"
    terraform: ClassVar[tuple[str, ...]] = ("delete", "create")  # the group replaces the instance
    symbol: ClassVar[str] = "x"
    instance: str
    group: str  # the Auto Scaling group it is replaced in
    trouble: str  # a reconciler.core.instance_health.Trouble value
    detail: str  # the error it was found with
    ticks: int = 1  # consecutive ticks (an unreachable engine)


UNHEALTHY_TYPES: tuple[type[Action], ...] = (MarkUnhealthy,)
