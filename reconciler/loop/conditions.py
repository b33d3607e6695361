"""The environment's status after a tick, Kubernetes style. Pure.

Conditions: Ready (the world matches the target revision), Progressing
(False after every tick: a tick is synchronous), Degraded (the last apply
or plan failed), OutOfSync (changes exist that were not applied: plan
mode, suspended, self-heal off, a failed revision not retried), Suspended
and Pinned (mirroring the admin fields). ``last_applied`` moves to the
target only when the world matches it; ``failed_revisions`` remembers a
failed revision (with its plan's fingerprint) until a revision is in sync.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.loop.decide import Decision
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Result, Revision
from reconciler.state.records import with_resources

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


def next_status(
    status: EnvironmentStatus,
    target: Revision,
    pinned: bool,
    plan: Plan | None,
    decision: Decision | None,
    report: ApplyReport | None,
    result: Result,
    reason: str,
    error: str | None,
    failed: str | None,  # the failed-revision key to remember, or None
    now: float,
) -> EnvironmentStatus:
    new = replace(status, updated_at=now)
    acted = decision is not None and decision.act
    if acted or error is not None:
        new = replace(new, last_attempted=target)
    in_sync = result is Result.APPLIED or result is Result.NO_CHANGE
    if in_sync:
        # in sync: earlier failures are history (a pin or rollback to one of them tries it again)
        new = replace(new, last_applied=target, last_error=None, failed_revisions=frozenset())
        why = "Applied" if result is Result.APPLIED else "InSync"
        new = new.with_condition(ConditionType.READY, T, why, reason, now)
        new = new.with_condition(ConditionType.DEGRADED, F, why, "", now)
        new = new.with_condition(ConditionType.OUT_OF_SYNC, F, why, "", now)
    elif error is not None or result in (Result.FAILED, Result.PARTIAL):
        message = error or reason
        new = replace(new, last_error=message)
        if failed is not None:
            new = replace(new, failed_revisions=new.failed_revisions | {failed})
        why = "ApplyFailed" if acted else "PlanFailed"
        new = new.with_condition(ConditionType.READY, F, why, message, now)
        new = new.with_condition(ConditionType.DEGRADED, T, why, message, now)
        if plan is not None and plan.has_changes:
            new = new.with_condition(ConditionType.OUT_OF_SYNC, T, why, reason, now)
    else:  # planned or skipped: changes exist that were not applied
        why = _why_not(status, decision)
        new = new.with_condition(ConditionType.READY, F, why, reason, now)
        new = new.with_condition(ConditionType.OUT_OF_SYNC, T, why, reason, now)
    new = new.with_condition(ConditionType.PROGRESSING, F, "TickFinished", "", now)
    suspended = T if status.suspended else F
    new = new.with_condition(ConditionType.SUSPENDED, suspended, "Suspended" if status.suspended else "Active", "", now)
    pin_message = f"pinned to {target.sha[:12]}; reconciler unpin returns to the branch head" if pinned else ""
    new = new.with_condition(ConditionType.PINNED, T if pinned else F, "Pinned" if pinned else "BranchHead",
                             pin_message, now)  # fmt: skip
    if plan is not None:
        new = with_resources(new, plan, report, now)
    return new


def _why_not(status: EnvironmentStatus, decision: Decision | None) -> str:
    if decision is None:
        return "NotPlanned"
    if decision.result is Result.PLANNED:
        return "PlanOnly"
    if status.suspended:
        return "Suspended"
    if "failed before" in decision.reason:
        return "RevisionFailed"
    return "DriftNotCorrected" if decision.drift else "NotApplied"
