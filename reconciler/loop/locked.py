"""The part of a tick that runs under the environment's lease: observe and plan once, decide,
apply, record. Does I/O (the world, the state store) through what it is given (:class:`TickInputs`).

It reads the status (a pin makes it target the pinned commit), opens the
world, plans once and decides (:mod:`.decide`). To act, it hands that plan
to the one reconcile flow (:func:`reconciler.app.reconcile.apply`), which
re-checks its preconditions right before acting (the lease checked first)
and plans again only when they went stale. The tick's facts become one
:class:`~reconciler.loop.outcome.Attempt` (the plan actually applied and
the report of that apply), from which the status and the history entry are
computed and written, fenced by the lease's token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.app import reconcile
from reconciler.app.settings import Overrides
from reconciler.core.errors import ReconcilerError, TemporaryError
from reconciler.core.events import DeployStarted, EventSink, RollbackStarted
from reconciler.core.plan import Plan, Unit
from reconciler.loop.conditions import next_status
from reconciler.loop.decide import Decision, Mode, decide
from reconciler.loop.outcome import (
    Attempt,
    Finished,
    Started,
    history_entry,
    ignore,
    replacement_entry,
    rollback_entry,
)
from reconciler.loop.ports import OpenWorld, Planned, Source, World
from reconciler.loop.replacement import Replacement
from reconciler.loop.rollback import Rollback, rollout_failure
from reconciler.planner.rollout import without_alarm_steps
from reconciler.planner.unhealthy import replacement_after_apply
from reconciler.state import EnvironmentStatus, Lease, LeaseLost, Revision, StateStore

if TYPE_CHECKING:
    from reconciler.drivers.state.heartbeat import Heartbeat


@dataclass(frozen=True, kw_only=True)
class TickInputs:
    """What the locked part of a tick uses of its :class:`~reconciler.loop.tick.Ticker`."""

    source: Source  # a pinned revision is looked up here
    checkout: Callable[[Revision], Path]  # the revision's environment folder, checked out
    open_world: OpenWorld
    overrides: Overrides
    mode: Mode
    on_event: EventSink
    clock: Callable[[], float]
    on_tick: Callable[[Finished], None] = ignore  # notifications and metrics: what the tick did
    on_plan: Callable[[Planned, Revision], None] = lambda _planned, _revision: None  # the status page's observation


@dataclass(frozen=True, kw_only=True)
class LockedTick:
    """One tick under the lease held by ``beat``."""

    inputs: TickInputs
    store: StateStore
    beat: Heartbeat
    environment: str
    started: Started

    def lease(self) -> Lease:
        """The lease, still ours (raises LeaseLost otherwise)."""
        return self.beat.check()

    def run(self, head: Revision, head_dir: Path) -> Attempt:
        """Target, plan, decide, apply; record the status and the history; the attempt."""
        status = self.store.read_status(self.environment)
        attempt = Attempt(environment=self.environment, target=head, pinned=False)
        target_dir = head_dir
        if status.pin:
            attempt = replace(attempt, target=self.inputs.source.revision(status.pin), pinned=True)
            target_dir = self.inputs.checkout(attempt.target)
        attempt = self._attempt(attempt, status, target_dir)
        now, after = self._record(status, attempt)
        self.inputs.on_tick(Finished(environment=self.environment, revision=attempt.target, before=status, after=after,
                                     started=self.started.at, now=now, attempt=attempt))  # fmt: skip
        return attempt

    def _attempt(self, attempt: Attempt, status: EnvironmentStatus, target_dir: Path) -> Attempt:
        """``attempt`` with its plan, decision and report; an error raised while planning or
        applying is kept in it, with the plan and the decision made before it."""
        given = self.inputs
        try:
            world = given.open_world(target_dir, given.overrides, read_only=given.mode == "plan",
                                     on_event=given.on_event, unreachable_before=status.unreachable)  # fmt: skip
            try:
                planned = world.plan()
                given.on_plan(planned, attempt.target)
                plan = planned.plan
                attempt = replace(attempt, plan=plan, decision=self._decide(world, attempt, status, plan))
                if attempt.acted:
                    self._started(attempt)
                    applied = reconcile.apply(world, show=lambda _p, _f: None, confirm=lambda _p, _f: True,
                                              on_event=given.on_event, plan=plan,
                                              hold=lambda: contextlib.nullcontext(self.lease()))  # fmt: skip
                    attempt = replace(attempt, plan=applied.plan, report=applied.report)
                    if applied.plan is not plan:  # re-planned: the reason names what was applied
                        again = self._decide(world, attempt, status, applied.plan)
                        attempt = replace(attempt, decision=again) if again.act else attempt
                    cause = rollout_failure(applied.plan, applied.report)
                    last = status.last_applied
                    mark = replacement_after_apply(applied.plan, applied.report, world.settings.replace_unhealthy)
                    if cause and mark is not None:  # failed there, passed elsewhere: the instance, not the revision
                        attempt = replace(attempt, replacement=self._replace(world, mark, cause))
                    elif cause and world.settings.auto_rollback and last is not None and last.sha != attempt.target.sha:
                        world.close()
                        attempt = replace(attempt, rollback=self._rollback(last, cause))
            finally:
                world.close()
        except LeaseLost:
            raise
        except ReconcilerError as exc:
            return replace(attempt, error=str(exc), temporary=isinstance(exc, TemporaryError))
        return attempt

    def _started(self, attempt: Attempt) -> None:
        """Tell the subscribers (notifications, metrics) that a deploy starts."""
        target, decision = attempt.target, attempt.decision
        subject = target.message.splitlines()[0] if target.message else ""
        why, drift = (decision.reason, decision.drift) if decision is not None else ("", False)
        self.inputs.on_event(DeployStarted(self.environment, target.sha, target.author, subject, why, drift=drift))

    def _rollback(self, last: Revision, cause: str) -> Rollback:
        """Apply ``last`` (the last applied revision) again after a failed rollout: the instances the
        rollout changed go back through the same batches and gates; alarms are not checked (they
        may still be in ALARM from the failure)."""
        given = self.inputs
        given.on_event(RollbackStarted(self.environment, last.sha, cause))
        began = given.clock()
        try:
            world = given.open_world(given.checkout(last), given.overrides, read_only=False, on_event=given.on_event)
            try:
                planned = world.plan()
                given.on_plan(planned, last)
                plan = without_alarm_steps(planned.plan)
                applied = reconcile.apply(world, show=lambda _p, _f: None, confirm=lambda _p, _f: True,
                                          on_event=given.on_event, plan=plan,
                                          hold=lambda: contextlib.nullcontext(self.lease()))  # fmt: skip
                return Rollback(to=last, cause=cause, plan=applied.plan, report=applied.report,
                                seconds=given.clock() - began)  # fmt: skip
            finally:
                world.close()
        except LeaseLost:
            raise
        except ReconcilerError as exc:
            return Rollback(to=last, cause=cause, error=str(exc), seconds=given.clock() - began)

    def _replace(self, world: World, mark: Unit, cause: str) -> Replacement:
        """Mark the instance a rollout failed on unhealthy (its group replaces it), under the lease."""
        plan = Plan(environment=self.environment, units=(mark,))
        try:
            applied = reconcile.apply(world, show=lambda _p, _f: None, confirm=lambda _p, _f: True,
                                      on_event=self.inputs.on_event, plan=plan,
                                      hold=lambda: contextlib.nullcontext(self.lease()))  # fmt: skip
        except LeaseLost:
            raise
        except ReconcilerError as exc:
            return Replacement(cause=cause, plan=plan, error=str(exc))
        return Replacement(cause=cause, plan=applied.plan, report=applied.report)

    def _decide(self, world: World, attempt: Attempt, status: EnvironmentStatus, plan: Plan) -> Decision:
        return decide(target=attempt.target, pinned=attempt.pinned, status=status, plan=plan,
                      mode=self.inputs.mode, self_heal=world.settings.self_heal)  # fmt: skip

    def _record(self, status: EnvironmentStatus, attempt: Attempt) -> tuple[float, EnvironmentStatus]:
        """The status and (unless it only repeats the last one) the history entry of ``attempt``;
        when, and the new status."""
        now = self.inputs.clock()
        new = next_status(status, attempt=attempt, now=now)
        if _meaningful(new) != _meaningful(status):
            self.store.write_status(self.lease(), new)
        last = self.store.history(self.environment, 1)
        entry = history_entry(attempt, started=self.started, now=now, last=last[0] if last else None)
        if entry is not None:
            self.store.append_history(self.lease(), entry)
        rolled = rollback_entry(attempt, started=self.started, now=now)
        if rolled is not None:
            self.store.append_history(self.lease(), rolled)
        marked = replacement_entry(attempt, started=self.started, now=now)
        if marked is not None:
            self.store.append_history(self.lease(), marked)
        return now, new


def _meaningful(status: EnvironmentStatus) -> EnvironmentStatus:
    """A status without its timestamps (a tick that changes nothing else writes nothing)."""
    return replace(status, updated_at=None)
