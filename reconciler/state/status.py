"""Status and history of an environment, Kubernetes style. Pure.

:class:`EnvironmentStatus` holds the environment's and each resource's
:class:`Condition` s (Ready, Progressing, Degraded, OutOfSync, Suspended,
Pinned), the last applied and last attempted :class:`Revision`, the last error
and the revisions known to fail. :func:`set_condition` keeps Kubernetes'
semantics: ``last_transition`` changes only when a condition's status does.
:class:`HistoryEntry` is one tick or run: revision, trigger, actor, result,
action counts and why. Messages are redacted by whoever builds these (the
store saves what it is given; no secret value may reach it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from reconciler.state.reasons import Reason


class ConditionType(str, Enum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    OUT_OF_SYNC = "OutOfSync"
    SUSPENDED = "Suspended"
    PINNED = "Pinned"


class ConditionStatus(str, Enum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition; ``last_transition`` changes only when ``status`` does."""

    type: ConditionType
    status: ConditionStatus
    reason: str  # CamelCase, a reconciler.state.reasons.Reason (stored as its string)
    message: str  # redacted, human readable
    last_transition: float


def set_condition(
    conditions: tuple[Condition, ...],
    type: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: float,
) -> tuple[Condition, ...]:
    """``conditions`` with ``type`` set (Kubernetes' SetStatusCondition): the transition time is
    kept when the status is unchanged, else ``now``. Order is kept; a new type is appended. A
    :class:`Reason` is kept as its plain value (as it is stored and shown)."""
    old = next((c for c in conditions if c.type == type), None)
    since = old.last_transition if old is not None and old.status == status else now
    new = Condition(type, status, reason.value if isinstance(reason, Reason) else reason, message, since)
    if old is None:
        return (*conditions, new)
    return tuple(new if c.type == type else c for c in conditions)


@dataclass(frozen=True)
class Revision:
    """A git commit the loop applied or tried."""

    sha: str
    author: str
    message: str  # the subject line is enough
    committed_at: float


@dataclass(frozen=True)
class EnvironmentStatus:
    """What the loop last found and did for one environment (``suspended``/``pin``: admin fields)."""

    environment: str
    conditions: tuple[Condition, ...] = ()
    last_applied: Revision | None = None
    last_attempted: Revision | None = None
    last_error: str | None = None  # redacted
    failed_revisions: frozenset[str] = frozenset()  # shas not to retry until something changes
    suspended: bool = False
    pin: str | None = None
    resources: Mapping[str, tuple[Condition, ...]] = field(default_factory=dict)  # by address
    updated_at: float | None = None
    # a fleet's instances whose engine was unreachable at the last ticks: instance id -> ticks in a row
    # (an instance reachable again, or gone, is dropped): what replaceUnhealthy counts across restarts
    unreachable: Mapping[str, int] = field(default_factory=dict)

    def condition(self, type: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type), None)

    def with_condition(
        self, type: ConditionType, status: ConditionStatus, reason: str, message: str, now: float
    ) -> EnvironmentStatus:
        return replace(self, conditions=set_condition(self.conditions, type, status, reason, message, now))

    def with_resource_condition(
        self, address: str, type: ConditionType, status: ConditionStatus, reason: str, message: str, now: float
    ) -> EnvironmentStatus:
        current = self.resources.get(address, ())
        resources = {**self.resources, address: set_condition(current, type, status, reason, message, now)}
        return replace(self, resources=resources)


class Trigger(str, Enum):
    POLL = "poll"
    WEBHOOK = "webhook"
    WATCH = "watch"  # a local repository's refs changed
    MANUAL = "manual"  # reconciler apply
    ROLLBACK = "rollback"
    PIN = "pin"


class Result(str, Enum):
    APPLIED = "applied"
    PARTIAL = "partial"  # some units applied, some failed
    FAILED = "failed"
    NO_CHANGE = "no-change"
    PLANNED = "planned"  # --mode plan: reported, not acted on
    SKIPPED = "skipped"  # suspended, or a revision already known to fail


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One tick or run: what it applied, why, and how it ended. ``token``: the lease it ran under
    (stamped by :meth:`StateStore.append_history`)."""

    environment: str
    revision: Revision | None
    started_at: float
    finished_at: float
    trigger: Trigger
    actor: str  # who or what: "loop@host", a user name, "webhook push by alice"
    result: Result
    actions: Mapping[str, int] = field(default_factory=dict)  # counts by action kind
    reason: str = ""  # why it ran / why it redeployed (redacted)
    error: str | None = None  # redacted
    token: int = 0
    jobs: Mapping[str, str] = field(default_factory=dict)  # job address -> its outcome: exit code, output's last lines

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)
