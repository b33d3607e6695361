"""When a tick replaces a fleet's instance instead of rolling back, and what it marked. Pure.

A rollout that fails on one instance while the same revision passed on another (its health gate,
or a full disk) is the instance's fault, not the revision's: rather than roll the fleet back, the
tick marks that instance unhealthy (:func:`reconciler.planner.unhealthy.replacement_after_apply`),
its Auto Scaling group replaces it, and the next ticks finish the rollout (the revision's plan
changes with the group, so it is tried again) and converge the new instance. Every instance
failing the same way is still a rollback (:mod:`.rollback`). An instance whose engine is
unreachable tick after tick is marked by the plan itself (:mod:`reconciler.planner.unhealthy`);
:func:`marked` finds the marks either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.core.rollout_actions import MarkUnhealthy


def marked(plan: Plan | None, report: ApplyReport | None) -> tuple[MarkUnhealthy, ...]:
    """The instances ``report`` says were marked unhealthy by ``plan``."""
    if plan is None or report is None:
        return ()
    done = {r.address for r in report.by_status("done")}
    return tuple(a for a in plan.actions if isinstance(a, MarkUnhealthy) and a.address in done)


@dataclass(frozen=True, kw_only=True)
class Replacement:
    """The instance a tick marked unhealthy after its rollout failed there (and passed elsewhere)."""

    cause: str  # the rollout's failure: address and message
    plan: Plan  # one unit: the mark
    report: ApplyReport | None = None
    error: str | None = None  # applying the mark raised

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok

    @property
    def marks(self) -> tuple[MarkUnhealthy, ...]:
        return marked(self.plan, self.report)

    @property
    def instance(self) -> str:
        action = self.plan.actions[0]
        assert isinstance(action, MarkUnhealthy)
        return action.instance
