"""The reconcile flow: plan -> confirm -> re-check -> apply -> report. Not pure (drives a context).

One flow for every caller: the CLI's apply, and the loop's tick, which
starts it from the plan it already made and decided on. The caller gives
how to show a plan and how to ask for confirmation; the flow never prints
and never reads stdin itself. Right before acting, under the environment's
lease when the caller gives one, it re-reads only what the plan touches;
a stale plan is never applied: the flow plans again (a full observe),
shows the fresh plan and asks again, at most ``MAX_REPLANS`` times.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.core.errors import ReconcilerError
from reconciler.core.events import EventSink, PlanStale
from reconciler.core.exitcodes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "MAX_REPLANS", "Context", "Outcome", "apply"]

MAX_REPLANS = 3


class Context(Protocol):
    """What the flow needs of an environment (app.EnvironmentContext)."""

    def plan(self) -> _HasPlan: ...

    def recheck(self, plan: Plan) -> list[str]: ...

    def apply(self, plan: Plan) -> ApplyReport: ...


class _HasPlan(Protocol):
    @property
    def plan(self) -> Plan: ...


@dataclass(frozen=True)
class Outcome:
    plan: Plan  # the plan that was applied (or shown)
    report: ApplyReport | None  # None: nothing was applied
    cancelled: bool = False

    @property
    def exit_code(self) -> int:
        """Terraform's: 0 success, 1 error (problems, failed actions, cancelled)."""
        if self.cancelled or self.plan.problems:
            return EXIT_ERROR
        if self.report is not None and not self.report.ok:
            return EXIT_ERROR
        return EXIT_OK


Show = Callable[[Plan, bool], None]  # (plan, fresh: shown again after a stale re-check)
Confirm = Callable[[Plan, bool], bool]  # (plan, fresh) -> go ahead?


def apply(
    ctx: Context,
    *,
    show: Show,
    confirm: Confirm,
    on_event: EventSink,
    hold: Callable[[], AbstractContextManager[Any]] | None = None,
    applied: Callable[[Any, Outcome], None] | None = None,
    plan: Plan | None = None,
) -> Outcome:
    """Plan, confirm, re-check, apply. Problems block only what they concern; the rest is
    applied and the outcome's exit code is 1. ``hold`` (the environment's lease) is taken only
    around the re-check and the apply: planning and asking never block another actor, and what
    is applied was re-checked under it; ``applied(held, outcome)`` runs while it is held.
    ``plan``: one the caller already made (the loop's tick), used instead of observing and
    planning again; it is shown, confirmed and re-checked like a fresh one. The outcome's plan is
    the one applied: the re-planned one when a re-check found it stale."""
    current = plan if plan is not None else ctx.plan().plan
    show(current, False)
    if not current.has_changes:
        return Outcome(current, None)
    if not confirm(current, False):
        return Outcome(current, None, cancelled=True)
    for _ in range(MAX_REPLANS):
        with hold() if hold is not None else contextlib.nullcontext() as held:
            stale = ctx.recheck(current)
            if not stale:
                outcome = Outcome(current, ctx.apply(current))
                if applied is not None:
                    applied(held, outcome)
                return outcome
        on_event(PlanStale(current.environment, tuple(stale)))
        current = ctx.plan().plan
        show(current, True)
        if not current.has_changes:
            return Outcome(current, None)
        if not confirm(current, True):
            return Outcome(current, None, cancelled=True)
    raise ReconcilerError(
        f"environment {current.environment} kept changing while the plan was re-checked "
        f"({MAX_REPLANS} times); nothing was applied"
    )
