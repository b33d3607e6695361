"""From a plan and what apply did to status and history records. Pure.

Every record says why: a history entry carries the reasons of the actions
it applied (the same reasons the plan shows) or of the ones it did not, and
the resources' conditions carry each action's reason and outcome. Messages
come from the plan and the report, which never hold secret values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from reconciler.core.actions import RunJob
from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.state.reasons import Reason
from reconciler.state.status import ConditionStatus, ConditionType, EnvironmentStatus, Result

MAX_REASONS = 3


def action_counts(plan: Plan, report: ApplyReport | None) -> dict[str, int]:
    """Actions by kind: the ones done (after an apply) or planned (without one)."""
    if report is None:
        return dict(Counter(a.kind for a in plan.actions))
    return dict(Counter(r.kind for r in report.results if r.status == "done"))


def reasons(plan: Plan, limit: int = MAX_REASONS) -> str:
    """Why the plan acts: ``address: reason`` of its first actions, and how many more."""
    items = [f"{a.address}: {a.reason}" for a in plan.actions]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def job_outcomes(plan: Plan, report: ApplyReport | None) -> dict[str, str]:
    """What each job that ran did (its exit code and the last lines of its output, masked), by address."""
    if report is None:
        return {}
    ran = {a.address for a in plan.actions if isinstance(a, RunJob)}
    return {r.address: r.message for r in report.results if r.address in ran and r.status != "skipped"}


def failures(plan: Plan, report: ApplyReport | None, limit: int = MAX_REASONS) -> str:
    """What went wrong: the plan's problems and the failed actions, first ones first."""
    items = [f"{p.address}: {p.message}" for p in plan.problems]
    if report is not None:
        items += [f"{r.address}: {r.message}" for r in report.by_status("failed")]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def apply_result(plan: Plan, report: ApplyReport | None) -> Result:
    """The result of an apply: applied, partial (some done, some not) or failed."""
    if report is None:
        return Result.FAILED if plan.problems else Result.NO_CHANGE
    if report.ok and not plan.problems:
        return Result.APPLIED
    return Result.PARTIAL if report.by_status("done") else Result.FAILED


def with_resources(status: EnvironmentStatus, plan: Plan, report: ApplyReport | None, now: float) -> EnvironmentStatus:
    """``status`` with a condition for each resource the plan acts on or has a problem with:
    Ready (done), Degraded (failed), OutOfSync (planned, skipped or not applied), each with the
    action's reason or the failure. Resources in sync are dropped (they need no record)."""
    touched = {a.address for a in plan.actions} | {p.address for p in plan.problems}
    kept = {address: conds for address, conds in status.resources.items() if address in touched}
    result = replace(status, resources=kept)
    outcomes = {r.address: r for r in report.results} if report is not None else {}
    for action in plan.actions:
        outcome = outcomes.get(action.address)
        if outcome is not None and outcome.status == "done":
            result = result.with_resource_condition(
                action.address, ConditionType.READY, ConditionStatus.TRUE, Reason.APPLIED, action.reason, now
            )
            result = result.with_resource_condition(
                action.address, ConditionType.OUT_OF_SYNC, ConditionStatus.FALSE, Reason.APPLIED, outcome.message, now
            )
        elif outcome is not None and outcome.status == "failed":
            result = result.with_resource_condition(
                action.address, ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.APPLY_FAILED, outcome.message, now
            )
        else:
            why = outcome.message if outcome is not None else action.reason
            result = result.with_resource_condition(
                action.address, ConditionType.OUT_OF_SYNC, ConditionStatus.TRUE, Reason.NOT_APPLIED, why, now
            )
    for problem in plan.problems:
        result = result.with_resource_condition(
            problem.address, ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.NOT_PLANNED, problem.message, now
        )
    return result
