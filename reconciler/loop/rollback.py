"""When a tick rolls a fleet back, and what the rollback was. Pure.

A rollout that fails (a health gate, an alarm during a batch or the bake, a target
group that never reports an instance healthy, or a stack change that fails on an
instance of a fleet) leaves the instances it already changed on the new revision and
the one in progress out of the load balancer. With ``rollout.autoRollback`` (the
default) the tick then applies the last applied revision, through the same rollout:
the changed instances go back batch by batch, leaving, changing, passing the gate and
re-joining, the others are in sync and untouched. The revision stays marked failed, so
the loop does not try it again until the commit or its plan changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.plan import ROLLOUT_PREFIX, Plan
from reconciler.core.report import ApplyReport
from reconciler.core.rollout_actions import MarkUnhealthy, RolloutStep
from reconciler.state import Revision


def rollout_failure(plan: Plan, report: ApplyReport | None) -> str | None:
    """``address: message`` of the first failure of a fleet's rollout in ``report``, else None."""
    if report is None:
        return None
    instances = {i for a in plan.actions if isinstance(a, RolloutStep) and (i := getattr(a, "instance", None))}
    in_rollout = {
        a.address
        for u in plan.units
        if u.id.startswith(ROLLOUT_PREFIX) or (u.host is not None and u.host in instances)
        for a in u.actions
        if not isinstance(a, MarkUnhealthy)  # replacing a broken instance is no rollout of the revision
    }
    for result in report.by_status("failed"):
        if result.address in in_rollout:
            return f"{result.address}: {result.message}"
    return None


@dataclass(frozen=True, kw_only=True)
class Rollback:
    """The rollback a tick made after a failed rollout."""

    to: Revision  # the last applied revision, applied again
    cause: str  # the rollout's failure: address and message
    plan: Plan | None = None
    report: ApplyReport | None = None
    error: str | None = None  # planning or applying the rollback raised
    seconds: float = 0.0  # how long it took

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.plan is not None
            and not self.plan.problems
            and (self.report is None or self.report.ok)
        )
