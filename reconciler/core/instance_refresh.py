"""A rotation done by AWS's own engine (``spec.rollout.rotation: instanceRefresh``): the preferences
of a StartInstanceRefresh derived from the rollout settings, what AWS would refuse, the state of a
refresh as DescribeInstanceRefreshes tells it, and the plan's ``instance_refresh`` action. Pure.

How the rollout settings become the refresh's preferences (:func:`refresh_preferences`; the
percentages are of the group's desired capacity ``N``, as AWS reads them):

- ``MinHealthyPercentage``: the instances ``minHealthy`` keeps in service (by default all but a
  batch: ``batch`` 1 of 4 keeps 3) as a percent of ``N``, rounded *down*: AWS rounds the count it
  keeps *up*, so ``floor(100 K / N)`` keeps exactly ``K`` (2 of 3: 66 %, ceil(1.98) = 2) for any
  group of up to 100 instances.
- ``MaxHealthyPercentage``: 100 when ``minHealthy`` leaves room for a batch (terminate, then
  launch: the replace path's order); above 100 when it does not (``minHealthy: 100%``): room for
  one batch more than ``N``, so AWS launches the batch before it terminates (at most 200, and at
  most ``MinHealthyPercentage`` + 100, as AWS requires).
- ``SkipMatching``: always (an instance already on the wanted template and version stays).
- ``InstanceWarmup``: the health gate's interval (the reconciler passed the gate before the
  instance left Pending:Wait; the warmup gives the load balancer's first checks that long before
  AWS moves on); without a health check it is left to the group's ``DefaultInstanceWarmup``.
- ``BakeTime``: ``bake`` (AWS watches the alarms that long after the last replacement, status
  ``Baking``); no ``CheckpointPercentages``: no rollout setting asks for a pause between batches,
  and AWS watches the alarms during the whole refresh, not only between batches.
- ``AlarmSpecification``: ``alarms`` (at most 10); ``AutoRollback``: ``autoRollback`` (AWS puts
  the group's previous template back and replaces the new instances again).
- ``DesiredConfiguration``: the fleet's launch template name and version (a number, never
  ``$Latest``/``$Default``, so that AWS can roll back); AWS sets it on the group once the refresh
  succeeds, and leaves the group as it was when it fails or rolls back.
- ``StandbyInstances: Ignore`` (the reconciler leaves Standby instances alone: AWS would wait an
  hour for them, then fail) and ``ScaleInProtectedInstances: Refresh`` (protection is against
  scale-in, not rotation: the replace path rotates them too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

from reconciler.core.fleet import HealthCheckSpec, RolloutSpec, format_duration
from reconciler.core.rollout_actions import RolloutStep
from reconciler.core.rotation import LaunchTemplateRef

MAX_ALARMS = 10  # AlarmSpecification.Alarms
MAX_BAKE = 172_800  # BakeTime and CheckpointDelay: seconds, 48 h
MAX_PERCENT_GROUP = 100  # above, a whole percent cannot say every count of instances


@dataclass(frozen=True)
class RefreshPreferences:
    """StartInstanceRefresh's ``Preferences``, as the reconciler sets them (see the module docstring)."""

    min_healthy: int  # MinHealthyPercentage
    max_healthy: int  # MaxHealthyPercentage
    skip_matching: bool = True
    instance_warmup: int | None = None  # None: the group's DefaultInstanceWarmup
    checkpoints: tuple[int, ...] = ()
    checkpoint_delay: int | None = None
    alarms: tuple[str, ...] = ()
    auto_rollback: bool = False
    bake_time: int = 0
    standby_instances: str = "Ignore"
    scale_in_protected_instances: str = "Refresh"


def kept_percent(keep: int, size: int) -> int:
    """The MinHealthyPercentage that makes AWS keep ``keep`` of ``size`` instances (AWS rounds the
    count up: the percent is rounded down)."""
    if size <= 0:
        return 100
    return min(100, max(0, (100 * keep) // size))


def refresh_preferences(rollout: RolloutSpec, size: int) -> RefreshPreferences:
    """The preferences of a refresh of a group of desired capacity ``size`` under ``rollout``."""
    batch = rollout.batch_size(size)
    keep = rollout.min_in_service(size)
    low = kept_percent(keep, size)
    high = 100
    if size and keep + batch > size:  # no room to terminate first: launch the batch before
        high = min(200, low + 100, max(100, math.ceil(100 * (keep + batch) / size)))
    check = rollout.health_check
    return RefreshPreferences(
        min_healthy=low,
        max_healthy=high,
        instance_warmup=_warmup(check),
        alarms=rollout.alarms,
        auto_rollback=rollout.auto_rollback,
        bake_time=math.ceil(rollout.bake),
    )


def _warmup(check: HealthCheckSpec | None) -> int | None:
    return None if check is None else max(0, math.ceil(check.interval))


def preference_issues(prefs: RefreshPreferences) -> list[tuple[str, str]]:
    """What StartInstanceRefresh would refuse in ``prefs``, as (field, message): the ranges of the
    service model and the rules AWS states in words. Empty when AWS would take it."""
    issues: list[tuple[str, str]] = []
    if not 0 <= prefs.min_healthy <= 100:
        issues.append(("minHealthy", f"MinHealthyPercentage {prefs.min_healthy} is outside 0..100"))
    if not 100 <= prefs.max_healthy <= 200:
        issues.append(("minHealthy", f"MaxHealthyPercentage {prefs.max_healthy} is outside 100..200"))
    if prefs.max_healthy - prefs.min_healthy > 100:
        issues.append(("minHealthy", f"MaxHealthyPercentage {prefs.max_healthy} is more than 100 above "
                                     f"MinHealthyPercentage {prefs.min_healthy}"))  # fmt: skip
    if len(prefs.alarms) > MAX_ALARMS:
        issues.append(("alarms", f"{len(prefs.alarms)} alarms: an instance refresh watches at most {MAX_ALARMS}"))
    if not 0 <= prefs.bake_time <= MAX_BAKE:
        issues.append(("bake", f"{format_duration(prefs.bake_time)}: an instance refresh bakes at most 48h"))
    if prefs.instance_warmup is not None and prefs.instance_warmup < 0:
        issues.append(("healthCheck.interval", "the instance warmup cannot be negative"))
    points = prefs.checkpoints
    if points and (list(points) != sorted(set(points)) or not all(1 <= p <= 100 for p in points)):
        issues.append(("checkpoints", "checkpoint percentages must be unique, ascending, from 1 to 100"))
    if prefs.checkpoint_delay is not None and not points:
        issues.append(("checkpoints", "a checkpoint delay needs checkpoint percentages"))
    return issues


def spec_refusals(rollout: RolloutSpec) -> list[tuple[str, str]]:
    """What AWS would refuse of ``rollout`` whatever the group's size (the spec's fault): checked
    when the spec is read, for ``rotation: instanceRefresh``."""
    return [i for i in preference_issues(refresh_preferences(rollout, 1)) if i[0] in ("alarms", "bake")]


# ---- a refresh as AWS describes it --------------------------------------

ACTIVE = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
SUCCESSFUL = "Successful"


@dataclass(frozen=True)
class RefreshState:
    """One instance refresh as DescribeInstanceRefreshes reports it."""

    id: str
    status: str  # Pending | InProgress | Successful | Failed | Cancelling | Cancelled | Rollback* | Baking
    reason: str = ""
    percentage: int = 0
    to_update: int | None = None
    template: LaunchTemplateRef | None = None  # its DesiredConfiguration's launch template
    rollback_reason: str = ""
    started: str = ""  # ISO 8601

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def progress(self) -> str:
        """``InProgress, 50% complete, 1 instance to update (reason)``."""
        parts = [self.status, f"{self.percentage}% complete"]
        if self.to_update is not None:
            parts.append(f"{self.to_update} instance{'s' if self.to_update != 1 else ''} to update")
        text = ", ".join(parts)
        return f"{text} ({self.reason})" if self.reason else text

    def failure(self) -> str | None:
        """Why the refresh did not succeed, or None (succeeded, or still going)."""
        if self.active or self.status == SUCCESSFUL:
            return None
        why = self.reason or "no reason given"
        if self.status == "Cancelled":
            return f"instance refresh {self.id} was cancelled ({why})"
        if self.status == "RollbackSuccessful":
            cause = self.rollback_reason or why
            return f"instance refresh {self.id} failed and AWS rolled the group back ({cause})"
        if self.status == "RollbackFailed":
            return f"instance refresh {self.id} failed and so did AWS's rollback ({self.rollback_reason or why})"
        return f"instance refresh {self.id} {self.status.lower()}: {why}"


# ---- the plan's action ----------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InstanceRefresh(RolloutStep):
    """Rotate a fleet's instances to ``to`` with StartInstanceRefresh (or follow the one in progress
    towards it), converge each new instance and complete its launch lifecycle action while it waits
    in Pending:Wait, and poll until the refresh ends, at most ``timeout`` seconds (then cancelled)."""

    kind: ClassVar[str] = "instance_refresh"
    symbol: ClassVar[str] = "~"
    group: str
    template: LaunchTemplateRef
    before: tuple[str, ...]  # the versions the instances run now, e.g. ("1",)
    instances: tuple[str, ...]  # the instances to replace
    preferences: RefreshPreferences
    launch_hook: str  # the lifecycle hook holding a new instance until it converged
    health_check: HealthCheckSpec | None = None
    timeout: float

    @property
    def actions(self) -> tuple[str, ...]:
        return ("update",)

    def summary(self) -> str:
        """``launch template popcon-prod 1 -> 2 (min healthy 50%, skip matching, 2 alarms)``."""
        prefs = self.preferences
        notes = [f"min healthy {prefs.min_healthy}%"]
        if prefs.max_healthy != 100:
            notes.append(f"max healthy {prefs.max_healthy}%")
        if prefs.skip_matching:
            notes.append("skip matching")
        if prefs.alarms:
            notes.append(f"{len(prefs.alarms)} alarm{'s' if len(prefs.alarms) != 1 else ''}")
        if prefs.bake_time:
            notes.append(f"bake {format_duration(prefs.bake_time)}")
        if prefs.auto_rollback:
            notes.append("auto rollback")
        before = ", ".join(self.before) or "?"
        return f"launch template {self.template.name} {before} -> {self.template.version} ({', '.join(notes)})"


def without_alarms(action: InstanceRefresh) -> InstanceRefresh:
    """``action`` watching no alarm and baking not at all: the way back of a rollback (an alarm that
    failed the rollout may still be in ALARM, and AWS would fail the refresh back at once)."""
    if not action.preferences.alarms and not action.preferences.bake_time:
        return action
    prefs = replace(action.preferences, alarms=(), bake_time=0)
    why = action.reason.replace(action.summary(), replace(action, preferences=prefs).summary())
    return replace(action, preferences=prefs, reason=f"{why} (rollback: no alarms, no bake)")
