"""The Ticker driven with a fake git source and a fake world (no sandbox): one observe and one
plan per tick, and the status and history built from the plan that was applied and its report.

The specs are the repository's environments/dev (the tick loads their settings); the state
store is the real SQLite one in the test's tmp dir. The real e2e tests (tests/e2e/test_gitops.py)
remain the proof of the feature; these pin the tick's logic.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loop.kit import A, B, plan
from reconciler import app
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import TemporaryError
from reconciler.core.events import EventSink
from reconciler.core.model import DesiredState
from reconciler.core.observed import ObservedState
from reconciler.core.plan import Plan
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.loop.decide import Mode, failed_key
from reconciler.loop.outcome import TickOutcome
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.state import (
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Reason,
    Result,
    Revision,
    Trigger,
)

SPECS = Path(__file__).resolve().parents[2] / "environments" / "dev"


class FakeSource:
    """A branch whose head is ``head``; every commit holds the same specs, at environments/dev (the
    fake world decides what there is to do)."""

    def __init__(self, head: Revision) -> None:
        self.head = head
        self.known = {head.sha: head}

    def fetch(self) -> Revision:
        return self.head

    def revision(self, sha: str) -> Revision:
        return self.known[sha]

    def checkout(self, sha: str, path: str, dest: Path) -> Path:
        assert path == ""  # the whole tree: a compose file may include files outside its folder
        shutil.copytree(SPECS, dest / "environments" / "dev")
        return dest


@dataclass(frozen=True)
class Planned:
    plan: Plan
    desired: DesiredState = field(default_factory=lambda: DesiredState("dev", "test"))
    observed: ObservedState = field(default_factory=ObservedState)


def done(plan: Plan) -> ApplyReport:
    return ApplyReport(tuple(ActionResult(a.address, a.kind, "done") for a in plan.actions))


@dataclass
class FakeWorld:
    """What each observe finds (``found``, in order; the last one stays), what each re-check finds
    (``stale``, in order; then fresh) and what apply does (``outcome``); every call is logged."""

    found: list[Plan]
    stale: list[list[str]] = field(default_factory=list)
    outcome: Callable[[Plan], ApplyReport] = done
    calls: list[str] = field(default_factory=list)
    applied: list[Plan] = field(default_factory=list)
    opened_read_only: list[bool] = field(default_factory=list)
    current: Settings | None = None
    unreachable_before: list[dict[str, int]] = field(default_factory=list)  # what each open was given

    def open(
        self, env_dir: Path, overrides: Overrides, *, read_only: bool, on_event: EventSink,
        unreachable_before: Mapping[str, int] | None = None,
    ) -> FakeWorld:  # fmt: skip
        self.current = app.environment_settings(env_dir, overrides)
        self.unreachable_before.append(dict(unreachable_before or {}))
        self.opened_read_only.append(read_only)
        self.calls.append("open")
        return self

    @property
    def settings(self) -> Settings:
        assert self.current is not None
        return self.current

    def plan(self) -> Planned:
        self.calls.append("plan")
        return Planned(self.found.pop(0) if len(self.found) > 1 else self.found[0])

    def recheck(self, plan: Plan) -> list[str]:
        self.calls.append("recheck")
        return self.stale.pop(0) if self.stale else []

    def apply(self, plan: Plan) -> ApplyReport:
        self.calls.append("apply")
        self.applied.append(plan)
        return self.outcome(plan)

    def close(self) -> None:
        self.calls.append("close")


@dataclass
class Rig:
    ticker: Ticker
    source: FakeSource
    world: FakeWorld
    store: SqliteStateStore

    def tick(self) -> TickOutcome:
        self.world.calls.clear()
        return self.ticker.tick(Trigger.POLL, "loop@test (poll: interval)")

    def status(self) -> EnvironmentStatus:
        return self.store.read_status("dev")

    def history(self) -> list[HistoryEntry]:
        return self.store.history("dev", 50)

    def condition(self, type: ConditionType) -> tuple[ConditionStatus, str, str]:
        found = self.status().condition(type)
        assert found is not None
        return found.status, found.reason, found.message


@pytest.fixture
def rig(tmp_path: Path) -> Callable[..., Rig]:
    def make(world: FakeWorld, *, head: Revision = A, mode: Mode = "apply") -> Rig:
        store = SqliteStateStore.in_state_dir(tmp_path / "state")
        options = LoopOptions(repo="fake", path="environments/dev", mode=mode,
                              overrides=Overrides(state_dir=tmp_path / "state"))  # fmt: skip
        source = FakeSource(head)
        ticker = Ticker(options, source, tmp_path / "loop", open_world=world.open, open_store=lambda _s: store,
                        owner_command="test", say=lambda _l: None, on_event=lambda _e: None)  # fmt: skip
        return Rig(ticker, source, world, store)

    return make


def test_a_new_revision_is_observed_planned_and_applied_once(rig: Callable[..., Rig]) -> None:
    first = plan("/p/X")
    r = rig(FakeWorld(found=[first, plan()]))
    outcome = r.tick()
    assert outcome.result is Result.APPLIED and outcome.error is None and outcome.exit_code == 0
    assert outcome.reason.startswith(f"new revision {A.sha[:12]}") and "parameter:/p/X: not found" in outcome.reason
    assert r.world.calls == ["open", "plan", "recheck", "apply", "close"]  # one observe and one plan
    assert r.world.applied == [first] and r.world.opened_read_only == [False]
    assert r.condition(ConditionType.READY) == (ConditionStatus.TRUE, Reason.APPLIED, outcome.reason)
    assert r.status().last_applied == A and r.status().last_attempted == A
    assert r.status().resources["parameter:/p/X"][0].reason == Reason.APPLIED
    [entry] = r.history()
    assert (entry.result, entry.reason, entry.actions, entry.error) == (Result.APPLIED, outcome.reason,
                                                                        {"put_parameter": 1}, None)  # fmt: skip
    assert entry.revision == A and entry.trigger is Trigger.POLL and entry.actor == "loop@test (poll: interval)"


def test_in_sync_records_once_and_applies_nothing(rig: Callable[..., Rig]) -> None:
    r = rig(FakeWorld(found=[plan()]))
    for _ in range(3):
        outcome = r.tick()
        assert outcome.result is Result.NO_CHANGE
        assert outcome.reason == f"in sync with {A.sha[:12]} ('first' by {A.author})"
        assert r.world.calls == ["open", "plan", "close"]
    assert [e.result for e in r.history()] == [Result.NO_CHANGE]  # a repeated tick adds no entry
    assert r.condition(ConditionType.READY)[:2] == (ConditionStatus.TRUE, Reason.IN_SYNC)
    assert r.condition(ConditionType.PROGRESSING)[:2] == (ConditionStatus.FALSE, Reason.TICK_FINISHED)
    assert r.condition(ConditionType.PINNED)[:2] == (ConditionStatus.FALSE, Reason.BRANCH_HEAD)


def test_a_stale_plan_is_replanned_and_recorded_as_applied(rig: Callable[..., Rig]) -> None:
    first, fresh = plan("/p/X"), plan("/p/X", "/p/Y")
    r = rig(FakeWorld(found=[first, fresh, plan()], stale=[["parameter:/p/X: was version 1, now version 2"]]))
    outcome = r.tick()
    assert r.world.calls == ["open", "plan", "recheck", "plan", "recheck", "apply", "close"]
    assert r.world.applied == [fresh]
    assert outcome.result is Result.APPLIED and "parameter:/p/Y: not found" in outcome.reason  # the applied plan's
    [entry] = r.history()
    assert entry.actions == {"put_parameter": 2} and entry.reason == outcome.reason
    resources = r.status().resources
    assert set(resources) == {"parameter:/p/X", "parameter:/p/Y"}
    assert all(cs[0].type is ConditionType.READY and cs[0].reason == Reason.APPLIED for cs in resources.values())


def test_a_failed_apply_marks_the_revision_failed_until_it_changes(rig: Callable[..., Rig]) -> None:
    broken = plan("/p/X")

    def fails(p: Plan) -> ApplyReport:
        return ApplyReport(tuple(ActionResult(a.address, a.kind, "failed", "AccessDenied") for a in p.actions))

    r = rig(FakeWorld(found=[broken], outcome=fails))
    outcome = r.tick()
    assert outcome.result is Result.FAILED and outcome.error == "parameter:/p/X: AccessDenied"
    assert not outcome.temporary and outcome.exit_code == 1
    status = r.status()
    assert status.failed_revisions == {failed_key(A.sha, broken)} and status.last_applied is None
    assert status.last_error == "parameter:/p/X: AccessDenied" and status.last_attempted == A
    assert r.condition(ConditionType.DEGRADED) == (ConditionStatus.TRUE, Reason.APPLY_FAILED, outcome.error)
    assert r.status().resources["parameter:/p/X"][0].reason == Reason.APPLY_FAILED

    again = r.tick()  # the same commit and the same plan: not retried
    assert again.result is Result.SKIPPED and "failed before: parameter:/p/X: AccessDenied" in again.reason
    assert "apply" not in r.world.calls
    assert r.condition(ConditionType.READY)[:2] == (ConditionStatus.FALSE, Reason.REVISION_FAILED)
    assert [e.result for e in r.history()] == [Result.SKIPPED, Result.FAILED]

    r.source.head = B  # a new commit is applied at once
    r.world.outcome = done
    assert r.tick().result is Result.APPLIED and not r.status().failed_revisions


def test_an_apply_that_raises_is_recorded_as_failed_never_in_sync(rig: Callable[..., Rig]) -> None:
    def unreachable(_p: Plan) -> ApplyReport:
        raise TemporaryError("host:default", "the engine cannot be reached")

    r = rig(FakeWorld(found=[plan("/p/X")], outcome=unreachable))
    outcome = r.tick()
    assert outcome.result is Result.FAILED and outcome.temporary
    assert outcome.error == "host:default: the engine cannot be reached"
    status = r.status()
    assert status.last_applied is None and not status.failed_revisions  # temporary: retried, not remembered
    assert r.condition(ConditionType.READY)[:2] == (ConditionStatus.FALSE, Reason.APPLY_FAILED)


def test_plan_mode_reports_and_changes_nothing(rig: Callable[..., Rig]) -> None:
    r = rig(FakeWorld(found=[plan("/p/X")]), mode="plan")
    outcome = r.tick()
    assert outcome.result is Result.PLANNED and outcome.changes and outcome.exit_code == 2
    assert outcome.reason == "plan only (--mode plan): parameter:/p/X: not found"
    assert r.world.calls == ["open", "plan", "close"] and r.world.opened_read_only == [True]
    assert r.condition(ConditionType.READY) == (ConditionStatus.FALSE, Reason.PLAN_ONLY, outcome.reason)
    assert r.condition(ConditionType.OUT_OF_SYNC)[:2] == (ConditionStatus.TRUE, Reason.PLAN_ONLY)
    assert r.status().resources["parameter:/p/X"][0].reason == Reason.NOT_APPLIED
    [entry] = r.history()
    assert entry.result is Result.PLANNED and entry.actions == {"put_parameter": 1}


def test_a_pin_targets_the_pinned_revision(rig: Callable[..., Rig]) -> None:
    r = rig(FakeWorld(found=[plan("/p/X")]), head=B)
    r.source.known[A.sha] = A
    r.store.set_pin("dev", A.sha)
    outcome = r.tick()
    assert outcome.revision == A and outcome.reason.startswith(f"pinned revision {A.sha[:12]}")
    assert r.condition(ConditionType.PINNED)[:2] == (ConditionStatus.TRUE, Reason.PINNED)
