"""What a tick did, as values: the locked part's :class:`Attempt`, the runner's
:class:`TickOutcome`, and the history entries computed from them. Pure.

An :class:`Attempt` holds the facts of one tick under the lease: the target
revision, the decision, the plan that was applied (the re-planned one when
the flow found the first stale) or only decided on, what apply did, and the
error that ended planning or applying. Everything recorded is derived from
it by pure functions: its result, reason and failure (properties), the
status (:func:`reconciler.loop.conditions.next_status`), the history entry
(:func:`history_entry`) and the runner's summary (:func:`summary`), so a
status or an entry can never pair one plan with another run's report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass

from reconciler.core.exitcodes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.core.rollout_actions import MarkUnhealthy
from reconciler.loop.decide import Decision, describe, failed_key
from reconciler.loop.replacement import Replacement, marked
from reconciler.loop.rollback import Rollback
from reconciler.state import EnvironmentStatus, HistoryEntry, Reason, Result, Revision, Trigger
from reconciler.state.records import action_counts, apply_result, failures, job_outcomes

FAILING = (Result.FAILED, Result.PARTIAL)


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One tick under the lease: what it targeted, decided, applied, and what that did."""

    environment: str
    target: Revision  # the branch head, or the pinned revision
    pinned: bool
    decision: Decision | None = None  # None: no plan could be made
    plan: Plan | None = None  # the plan applied (re-planned when stale), else the one decided on
    report: ApplyReport | None = None  # what apply did; None: nothing was applied
    error: str | None = None  # raised while planning or applying (redacted)
    temporary: bool = False  # ``error`` may pass (unreachable, throttled)
    rollback: Rollback | None = None  # a failed rollout rolled back to the last applied revision
    replacement: Replacement | None = None  # ... or the instance it failed on marked unhealthy instead

    @property
    def marks(self) -> tuple[MarkUnhealthy, ...]:
        """The instances this tick marked unhealthy (by its plan, or after its rollout failed)."""
        after = self.replacement.marks if self.replacement is not None else ()
        return (*marked(self.plan, self.report), *after)

    @property
    def acted(self) -> bool:
        return self.decision is not None and self.decision.act

    @property
    def result(self) -> Result:
        if self.plan is None or self.decision is None:
            return Result.FAILED
        if not self.decision.act:
            return self.decision.result
        if self.report is None and self.error is not None:
            return Result.FAILED  # the flow raised before anything was applied
        return apply_result(self.plan, self.report)

    @property
    def reason(self) -> str:
        if self.plan is None or self.decision is None:
            return f"revision {describe(self.target)} could not be planned"
        return self.decision.reason

    @property
    def failure(self) -> str | None:
        """The tick's error: the one raised, else what the plan and the report say failed."""
        if self.error is not None or self.plan is None:
            return self.error
        if self.result not in FAILING:
            return None
        return failures(self.plan, self.report if self.acted else None)

    @property
    def transient(self) -> bool:
        """The failure may pass: retried with backoff, the revision is not marked failed. A rollout
        that was rolled back is never transient: it is not retried until something changes."""
        if self.rollback is not None or self.replacement is not None:
            return False
        report = self.report
        return self.temporary or (self.acted and report is not None and not report.ok and report.temporary_only)

    @property
    def failed_key(self) -> str | None:
        """How the failed revision is remembered in status (None: nothing to remember)."""
        if self.transient or self.result not in FAILING:
            return None
        return failed_key(self.target.sha, self.plan) if self.plan is not None else f"{self.target.sha}@unplanned"

    @property
    def changes(self) -> bool:
        return self.plan is not None and self.plan.has_changes


@dataclass(frozen=True)
class TickOutcome:
    """How a tick ended, as the runner logs, counts and schedules it."""

    result: Result
    reason: str
    _: KW_ONLY
    revision: Revision | None = None
    environment: str | None = None
    error: str | None = None
    temporary: bool = False  # retry soon (with backoff), the revision is not marked failed
    changes: bool = False  # the plan had changes (planned or applied)
    cause: str = ""  # a failure's reason (a reconciler.state.Reason value), for the metrics
    drift: bool = False  # the tick corrected (or would correct) drift

    @property
    def exit_code(self) -> int:
        if self.error is not None or self.result in FAILING:
            return EXIT_ERROR
        if self.result is Result.PLANNED and self.changes:
            return EXIT_CHANGES
        return EXIT_OK


def summary(attempt: Attempt) -> TickOutcome:
    return TickOutcome(
        result=attempt.result,
        reason=attempt.reason,
        revision=attempt.target,
        environment=attempt.environment,
        error=attempt.failure,
        temporary=attempt.transient,
        changes=attempt.changes,
        cause=_cause(attempt).value if attempt.failure is not None else "",
        drift=attempt.decision is not None and attempt.decision.drift,
    )


def _cause(attempt: Attempt) -> Reason:
    if attempt.rollback is not None:
        return Reason.ROLLED_BACK if attempt.rollback.ok else Reason.ROLLBACK_FAILED
    if attempt.marks:
        return Reason.INSTANCE_REPLACED
    return Reason.APPLY_FAILED if attempt.acted else Reason.PLAN_FAILED


@dataclass(frozen=True, kw_only=True)
class Started:
    """Who started a tick, and when: what every history entry of the tick says."""

    trigger: Trigger
    actor: str
    at: float

    def entry(
        self, environment: str, revision: Revision, *, now: float, result: Result, reason: str, error: str | None,
        actions: Mapping[str, int] | None = None, jobs: Mapping[str, str] | None = None,
    ) -> HistoryEntry:  # fmt: skip
        return HistoryEntry(environment=environment, revision=revision, started_at=self.at, finished_at=now,
                            trigger=self.trigger, actor=self.actor, result=result, actions=dict(actions or {}),
                            reason=reason, error=error, jobs=dict(jobs or {}))  # fmt: skip


def history_entry(attempt: Attempt, *, started: Started, now: float, last: HistoryEntry | None) -> HistoryEntry | None:
    """The attempt's history entry; None when it only repeats ``last`` (the newest entry): the
    same revision, result and reason, with nothing applied and no error."""
    result, reason, failure = attempt.result, attempt.reason, attempt.failure
    repeated = last is not None and last.revision == attempt.target and last.result is result and last.reason == reason
    if repeated and not attempt.acted and failure is None:
        return None
    plan = attempt.plan
    actions = action_counts(plan, attempt.report) if plan is not None else None
    jobs = job_outcomes(plan, attempt.report) if plan is not None and attempt.acted else None
    return started.entry(attempt.environment, attempt.target, now=now, result=result, reason=reason, error=failure,
                         actions=actions, jobs=jobs)  # fmt: skip


def rollback_entry(attempt: Attempt, *, started: Started, now: float) -> HistoryEntry | None:
    """The history entry of the attempt's rollback (None without one): the revision applied again."""
    rollback = attempt.rollback
    if rollback is None:
        return None
    result = Result.FAILED
    if rollback.error is None and rollback.plan is not None:
        result = apply_result(rollback.plan, rollback.report) if rollback.report is not None else Result.NO_CHANGE
    reason = (
        f"rollback to {describe(rollback.to)} after the rollout of {attempt.target.sha[:12]} failed: {rollback.cause}"
    )
    error = rollback.error or (
        failures(rollback.plan, rollback.report) if result in FAILING and rollback.plan else None
    )
    actions = action_counts(rollback.plan, rollback.report) if rollback.plan is not None else None
    return started.entry(attempt.environment, rollback.to, now=now, result=result, reason=reason, error=error,
                         actions=actions)  # fmt: skip


def replacement_entry(attempt: Attempt, *, started: Started, now: float) -> HistoryEntry | None:
    """The history entry of the instance marked unhealthy after the attempt's rollout failed there
    (None without one)."""
    done = attempt.replacement
    if done is None:
        return None
    result = apply_result(done.plan, done.report) if done.error is None else Result.FAILED
    action = done.plan.actions[0]
    reason = f"{action.reason} (rather than rolling {attempt.target.sha[:12]} back: {done.cause})"
    error = done.error or (failures(done.plan, done.report) if result in FAILING else None)
    return started.entry(attempt.environment, attempt.target, now=now, result=result, reason=reason, error=error,
                         actions=action_counts(done.plan, done.report))  # fmt: skip


def invalid_spec_entry(
    environment: str, revision: Revision, *, error: str, reason: str, started: Started, now: float,
    last: HistoryEntry | None,
) -> HistoryEntry | None:  # fmt: skip
    """The history entry of a revision whose specs do not load; None when ``last`` already says so."""
    if last is not None and last.revision == revision and last.result is Result.FAILED:
        return None
    return started.entry(environment, revision, now=now, result=Result.FAILED, reason=reason, error=error)


@dataclass(frozen=True, kw_only=True)
class Finished:
    """A tick that reached the state store, as its subscribers (notifications, metrics) see it:
    the status before and after, and the attempt (None: the revision's specs did not load)."""

    environment: str
    revision: Revision
    before: EnvironmentStatus
    after: EnvironmentStatus
    started: float
    now: float
    attempt: Attempt | None = None
    error: str | None = None  # the specs' error, without an attempt

    @property
    def seconds(self) -> float:
        return max(0.0, self.now - self.started)


def ignore(_finished: Finished) -> None:
    """The subscriber that does nothing."""
