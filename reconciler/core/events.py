"""Typed events of a reconcile: what is happening, as data. Pure.

Everything that reports progress (the planner's caller, the executor, the
reconcile flow) emits these frozen dataclasses through one :data:`EventSink`.
The terminal output is one subscriber (:func:`reconciler.render.event_line`);
metrics, notifications and history are others. Events never hold secret
values: messages are masked before an event is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.core.report import Status


@dataclass(frozen=True)
class PlanStarted:
    environment: str


@dataclass(frozen=True)
class HostObserved:
    """One Docker host was read (``error`` when it could not be)."""

    host: str
    containers: int
    error: str | None = None


@dataclass(frozen=True)
class PlanReady:
    environment: str
    actions: int
    problems: int
    seconds: float


@dataclass(frozen=True)
class PlanStale:
    """Right before acting, the world no longer matched what the plan assumed."""

    environment: str
    resources: tuple[str, ...]  # addresses, each with what changed


@dataclass(frozen=True)
class UnitStarted:
    unit: str
    host: str | None
    stack: str | None
    actions: int


@dataclass(frozen=True)
class UnitFinished:
    unit: str
    host: str | None
    stack: str | None
    status: Status  # done: every action done; failed: one failed; skipped: not run
    message: str = ""


@dataclass(frozen=True)
class ActionStarted:
    address: str
    kind: str
    doing: str  # e.g. "recreating with docker compose"


@dataclass(frozen=True)
class ActionFinished:
    address: str
    kind: str
    status: Status
    message: str = ""


@dataclass(frozen=True)
class WaitProgress:
    """A health (or completion) wait: started, or still waiting."""

    address: str
    condition: str  # healthy | completed
    elapsed: float
    timeout: float


@dataclass(frozen=True)
class LeftoverRemoved:
    """A file an earlier, interrupted run left in the state dir (an env file of an older version
    holding secrets, a half-written override) was removed before acting."""

    path: str
    what: str


@dataclass(frozen=True)
class RollbackStarted:
    """A fleet's rollout failed: the last applied revision ``to`` (a commit) is applied again."""

    environment: str
    to: str
    cause: str


@dataclass(frozen=True)
class DeployStarted:
    """A tick of the loop starts applying a revision (``drift``: to correct out-of-band changes)."""

    environment: str
    sha: str
    author: str
    subject: str
    reason: str  # why: the decision's reason (the plan's first reasons)
    drift: bool = False


Event = (
    PlanStarted
    | HostObserved
    | PlanReady
    | PlanStale
    | UnitStarted
    | UnitFinished
    | ActionStarted
    | ActionFinished
    | WaitProgress
    | LeftoverRemoved
    | RollbackStarted
    | DeployStarted
)

EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """The sink that drops everything."""
