"""One tick of the loop: fetch, check out, plan, decide, apply, record. Does I/O (git, the
world, the state store) through what it is given.

A tick fetches the branch and checks out the head commit's environment
folder into a private directory (committed content only, never a working
tree), reads the environment's status (a pin makes it target the pinned
commit instead), takes the environment's lease for the rest of the tick
(a manual apply or another loop holding it makes the tick wait for its
next turn), plans against the world, decides (:mod:`.decide`), applies
through the one reconcile flow, and records the status and, when
something happened, a history entry, both fenced by the lease's token.
Errors are classified: temporary ones (unreachable, throttled, a lease
held) are retried by the runner with backoff; permanent ones (a broken
spec, a tag that does not exist, a service that never becomes healthy)
mark the revision failed and are not retried until it changes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from reconciler import app
from reconciler.app import reconcile
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import ReconcilerError, TemporaryError
from reconciler.core.events import EventSink
from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.loop.decide import Decision, Mode, decide, describe, failed_key
from reconciler.state import (
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Lease,
    LeaseHeld,
    LeaseLost,
    Result,
    Revision,
    StateStore,
    Trigger,
)
from reconciler.state.records import action_counts, apply_result, failures

if TYPE_CHECKING:
    from reconciler.drivers.state.heartbeat import Heartbeat

KEEP_CHECKOUTS = 3
LEASE_TTL = 15.0


class Source(Protocol):
    """Where the specs come from (reconciler.drivers.git.source.GitSource)."""

    def fetch(self) -> Revision: ...
    def revision(self, sha: str) -> Revision: ...
    def checkout(self, sha: str, path: str, dest: Path) -> Path: ...


@dataclass(frozen=True)
class LoopOptions:
    repo: str
    branch: str = "main"
    path: str = ""
    mode: Mode = "apply"
    interval: float = 60.0
    overrides: Overrides = field(default_factory=Overrides)
    lease_ttl: float = LEASE_TTL


@dataclass(frozen=True)
class TickOutcome:
    result: Result
    reason: str
    revision: Revision | None = None
    environment: str | None = None
    error: str | None = None
    temporary: bool = False  # retry soon (with backoff), the revision is not marked failed
    changes: bool = False  # the plan had changes (planned or applied)

    @property
    def exit_code(self) -> int:
        if self.error is not None or self.result in (Result.FAILED, Result.PARTIAL):
            return reconcile.EXIT_ERROR
        if self.result is Result.PLANNED and self.changes:
            return reconcile.EXIT_CHANGES
        return reconcile.EXIT_OK


OpenStore = Callable[[Settings], StateStore]


class Ticker:
    """Runs ticks for one repository, branch and folder."""

    def __init__(
        self,
        options: LoopOptions,
        source: Source,
        work_dir: Path,
        *,
        open_store: OpenStore,
        owner_command: str,
        say: Callable[[str], None],
        on_event: EventSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.source = source
        self.work_dir = work_dir
        self.open_store = open_store
        self.owner_command = owner_command
        self.say = say
        self.on_event = on_event
        self.clock = clock
        self.settings: Settings | None = None  # of the last revision whose specs loaded

    # ---- checkouts ---------------------------------------------------------------

    def checkout(self, revision: Revision) -> Path:
        dest = self.work_dir / "checkouts" / revision.sha
        if not dest.is_dir():
            self.source.checkout(revision.sha, self.options.path, dest)
            self._prune_checkouts(keep=dest)
        return dest

    def _prune_checkouts(self, keep: Path) -> None:
        folders = sorted((p for p in keep.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in folders[:-KEEP_CHECKOUTS]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)

    # ---- a tick ------------------------------------------------------------------

    def tick(self, trigger: Trigger, actor: str) -> TickOutcome:
        started = self.clock()
        try:
            head = self.source.fetch()
            head_dir = self.checkout(head)
        except ReconcilerError as exc:
            return TickOutcome(Result.FAILED, "cannot read the repository", None, error=str(exc),
                               temporary=isinstance(exc, TemporaryError))  # fmt: skip
        try:
            settings = app.environment_settings(head_dir, self.options.overrides)
        except ReconcilerError as exc:
            return self._broken_head(head, exc, trigger, actor, started)
        self.settings = settings
        store = self.open_store(settings)
        try:
            with self._hold(store, settings.environment) as beat:
                return _Locked(self, store, beat, settings, trigger, actor, started).run(head, head_dir)
        except LeaseHeld as held:
            return TickOutcome(Result.SKIPPED, "another actor holds the environment", head, settings.environment,
                               error=str(held), temporary=True)  # fmt: skip
        except LeaseLost as lost:
            return TickOutcome(Result.FAILED, "the lease was lost during the tick", head, settings.environment,
                               error=str(lost), temporary=True)  # fmt: skip
        except TemporaryError as exc:
            return TickOutcome(Result.FAILED, "the state store cannot be reached", head, settings.environment,
                               error=str(exc), temporary=True)  # fmt: skip

    def _hold(self, store: StateStore, environment: str) -> AbstractContextManager[Heartbeat]:
        """The environment's lease for one tick (refused at once when someone holds it)."""
        from reconciler.drivers.state import this_process
        from reconciler.drivers.state.heartbeat import holding

        return holding(store, environment, this_process(self.owner_command), self.options.lease_ttl)

    def _broken_head(
        self, head: Revision, exc: ReconcilerError, trigger: Trigger, actor: str, started: float
    ) -> TickOutcome:
        """The head commit's specs do not load: a permanent failure of that revision, recorded in
        the store of the last revision that loaded (if any)."""
        reason = f"revision {describe(head)} cannot be applied: its specs are invalid"
        outcome = TickOutcome(Result.FAILED, reason, head, error=str(exc), temporary=isinstance(exc, TemporaryError))
        if self.settings is None:
            return outcome
        store = self.open_store(self.settings)
        env = self.settings.environment
        try:
            with self._hold(store, env) as beat:
                now = self.clock()
                status = store.read_status(env)
                new = replace(status, last_attempted=head, last_error=str(exc), updated_at=now)
                new = new.with_condition(ConditionType.READY, ConditionStatus.FALSE, "InvalidSpec", str(exc), now)
                new = new.with_condition(ConditionType.DEGRADED, ConditionStatus.TRUE, "InvalidSpec", reason, now)
                store.write_status(beat.check(), new)
                last = store.history(env, 1)
                if not last or last[0].revision != head or last[0].result is not Result.FAILED:
                    entry = HistoryEntry(env, head, started, now, trigger, actor, Result.FAILED, {}, reason, str(exc))
                    store.append_history(beat.check(), entry)
        except ReconcilerError as error:
            self.say(f"could not record the failure of {head.sha[:12]}: {error}")
        return replace(outcome, environment=env)


@dataclass
class _Locked:
    """The part of a tick that runs under the environment's lease."""

    ticker: Ticker
    store: StateStore
    beat: Heartbeat
    settings: Settings
    trigger: Trigger
    actor: str
    started: float

    def lease(self) -> Lease:
        return self.beat.check()

    def run(self, head: Revision, head_dir: Path) -> TickOutcome:
        env = self.settings.environment
        status = self.store.read_status(env)
        target, target_dir, pinned = head, head_dir, False
        if status.pin:
            target = self.ticker.source.revision(status.pin)
            target_dir = self.ticker.checkout(target)
            pinned = True
        opts = self.ticker.options
        plan: Plan | None = None
        report: ApplyReport | None = None
        decision: Decision | None = None
        error: str | None = None
        temporary = False
        try:
            ctx = app.open_environment(target_dir, opts.overrides, read_only=opts.mode == "plan",
                                       on_event=self.ticker.on_event)  # fmt: skip
            try:
                plan = ctx.plan().plan
                decision = decide(target=target, pinned=pinned, status=status, plan=plan, mode=opts.mode,
                                  self_heal=ctx.settings.self_heal)  # fmt: skip
                if decision.act:
                    self.lease()  # still ours
                    outcome = reconcile.apply(
                        ctx, show=lambda _p, _f: None, confirm=lambda _p, _f: True, on_event=self.ticker.on_event
                    )
                    report = outcome.report
            finally:
                ctx.close()
        except LeaseLost:
            raise
        except ReconcilerError as exc:
            error = str(exc)
            temporary = isinstance(exc, TemporaryError)
        return self._record(status, target, pinned, plan, decision, report, error, temporary)

    def _record(
        self,
        status: EnvironmentStatus,
        target: Revision,
        pinned: bool,
        plan: Plan | None,
        decision: Decision | None,
        report: ApplyReport | None,
        error: str | None,
        temporary: bool,
    ) -> TickOutcome:
        from reconciler.loop.conditions import next_status

        env = self.settings.environment
        now = self.ticker.clock()
        if plan is None or decision is None:
            result = Result.FAILED
            reason = f"revision {describe(target)} could not be planned"
        elif decision.act:
            result = apply_result(plan, report)
            reason = decision.reason
            if report is not None and not report.ok and report.temporary_only:
                temporary = True
            if result is not Result.APPLIED and error is None:
                error = failures(plan, report)
        else:
            result, reason = decision.result, decision.reason
            if result is Result.FAILED and error is None:
                error = failures(plan, None)
        failed = None if temporary or result not in (Result.FAILED, Result.PARTIAL) else (
            failed_key(target.sha, plan) if plan is not None else f"{target.sha}@unplanned")  # fmt: skip
        new = next_status(status, target, pinned, plan, decision, report, result, reason, error, failed, now)
        if _meaningful(new) != _meaningful(status):
            self.store.write_status(self.lease(), new)
        last = self.store.history(env, 1)
        acted = decision is not None and decision.act
        repeated = bool(last) and last[0].revision == target and last[0].result is result and last[0].reason == reason
        if acted or error is not None or not repeated:
            counts = action_counts(plan, report) if plan is not None else {}
            entry = HistoryEntry(
                env, target, self.started, now, self.trigger, self.actor, result, counts, reason, error
            )
            self.store.append_history(self.lease(), entry)
        changes = plan is not None and plan.has_changes
        return TickOutcome(result, reason, target, env, error, temporary, changes)


def _meaningful(status: EnvironmentStatus) -> EnvironmentStatus:
    """A status without its timestamps (a tick that changes nothing else writes nothing)."""
    return replace(status, updated_at=None)
