"""The environment's status after a tick, Kubernetes style. Pure.

Computed from the tick's :class:`~reconciler.loop.outcome.Attempt` alone
(its plan, its report, its decision), with the reasons of
:class:`~reconciler.state.Reason`. Conditions: Ready (the world matches the target revision), Progressing
(False after every tick: a tick is synchronous), Degraded (the last apply
or plan failed), OutOfSync (changes exist that were not applied: plan
mode, suspended, self-heal off, a failed revision not retried), Suspended
and Pinned (mirroring the admin fields). ``last_applied`` moves to the
target only when the world matches it; ``failed_revisions`` remembers a
failed revision (with its plan's fingerprint) until a revision is in sync.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.address import instance_address
from reconciler.core.plan import Plan
from reconciler.loop.outcome import Attempt
from reconciler.planner.unhealthy import unreachable_counts
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Reason, Result, Revision
from reconciler.state.records import with_resources

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


def next_status(status: EnvironmentStatus, *, attempt: Attempt, now: float) -> EnvironmentStatus:
    """``status`` after ``attempt`` (its plan, its report, its result), at ``now``."""
    new = replace(status, updated_at=now)
    result, reason, error, plan = attempt.result, attempt.reason, attempt.failure, attempt.plan
    if attempt.acted or error is not None:
        new = replace(new, last_attempted=attempt.target)
    if result is Result.APPLIED or result is Result.NO_CHANGE:
        # in sync: earlier failures are history (a pin or rollback to one of them tries it again)
        new = replace(new, last_applied=attempt.target, last_error=None, failed_revisions=frozenset())
        why = Reason.APPLIED if result is Result.APPLIED else Reason.IN_SYNC
        new = new.with_condition(ConditionType.READY, T, why, reason, now)
        new = new.with_condition(ConditionType.DEGRADED, F, why, "", now)
        new = new.with_condition(ConditionType.OUT_OF_SYNC, F, why, "", now)
    elif error is not None or result in (Result.FAILED, Result.PARTIAL):
        message = error or reason
        new = replace(new, last_error=message)
        failed = attempt.failed_key
        if failed is not None:
            new = replace(new, failed_revisions=new.failed_revisions | {failed})
        why = Reason.APPLY_FAILED if attempt.acted else Reason.PLAN_FAILED
        rollback = attempt.rollback
        if rollback is not None:
            why = Reason.ROLLED_BACK if rollback.ok else Reason.ROLLBACK_FAILED
            done = "rolled back to" if rollback.ok else "rollback failed, to"
            message = f"{done} {rollback.to.sha[:12]} after: {rollback.cause}"
            if not rollback.ok:
                message += f"; {rollback.error or 'the rollback did not complete'}"
            new = replace(new, last_error=message)
        elif attempt.marks:
            why = Reason.INSTANCE_REPLACED
            message = _replaced(attempt)
            new = replace(new, last_error=message)
        new = new.with_condition(ConditionType.READY, F, why, message, now)
        new = new.with_condition(ConditionType.DEGRADED, T, why, message, now)
        if plan is not None and plan.has_changes:
            new = new.with_condition(ConditionType.OUT_OF_SYNC, T, why, reason, now)
    else:  # planned or skipped: changes exist that were not applied
        why = attempt.decision.condition if attempt.decision is not None else Reason.NOT_PLANNED
        new = new.with_condition(ConditionType.READY, F, why, reason, now)
        new = new.with_condition(ConditionType.OUT_OF_SYNC, T, why, reason, now)
    new = new.with_condition(ConditionType.PROGRESSING, F, Reason.TICK_FINISHED, "", now)
    new = _admin_conditions(new, suspended=status.suspended, pinned=attempt.target if attempt.pinned else None, now=now)
    if plan is not None:
        new = with_resources(new, plan, attempt.report, now)
        new = _troubles(new, plan, now)
    for mark in attempt.marks:  # the instance marked, with why (also after a failed rollout)
        new = new.with_resource_condition(instance_address(mark.instance), ConditionType.DEGRADED, T,
                                          Reason(mark.trouble), mark.reason, now)  # fmt: skip
    return new


def _replaced(attempt: Attempt) -> str:
    """``instance i-0abc marked unhealthy (engine unreachable for 3 ticks in a row ...); group ... replaces
    it``, after what the rollout failed on when it follows one."""
    marks = "; ".join(f"{m.address}: {m.reason}" for m in attempt.marks)
    done = attempt.replacement
    return f"{marks} (after: {done.cause})" if done is not None else marks


def _troubles(status: EnvironmentStatus, plan: Plan, now: float) -> EnvironmentStatus:
    """The instances found unable to be reconciled, each with its reason (EngineUnreachable ...), and
    the count of consecutive ticks an engine was unreachable, kept for the next tick (an instance
    reachable again or gone is dropped)."""
    new = replace(status, unreachable=unreachable_counts(plan.troubles))
    for trouble in plan.troubles:
        new = new.with_resource_condition(instance_address(trouble.instance), ConditionType.DEGRADED, T,
                                          Reason(trouble.trouble.value), f"{trouble.describe()}: {trouble.detail}",
                                          now)  # fmt: skip
    return new


def invalid_spec_status(
    status: EnvironmentStatus, *, revision: Revision, error: str, reason: str, now: float
) -> EnvironmentStatus:
    """``status`` once ``revision``'s specs failed to load: not Ready, Degraded (InvalidSpec)."""
    new = replace(status, last_attempted=revision, last_error=error, updated_at=now)
    new = new.with_condition(ConditionType.READY, F, Reason.INVALID_SPEC, error, now)
    return new.with_condition(ConditionType.DEGRADED, T, Reason.INVALID_SPEC, reason, now)


def _admin_conditions(
    status: EnvironmentStatus, *, suspended: bool, pinned: Revision | None, now: float
) -> EnvironmentStatus:
    """Suspended and Pinned, mirroring the admin fields (``pinned``: the pinned revision, or None)."""
    new = status.with_condition(ConditionType.SUSPENDED, T if suspended else F,
                                Reason.SUSPENDED if suspended else Reason.ACTIVE, "", now)  # fmt: skip
    if pinned is None:
        return new.with_condition(ConditionType.PINNED, F, Reason.BRANCH_HEAD, "", now)
    message = f"pinned to {pinned.sha[:12]}; reconciler unpin returns to the branch head"
    return new.with_condition(ConditionType.PINNED, T, Reason.PINNED, message, now)
