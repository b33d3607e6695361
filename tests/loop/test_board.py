"""The status board (reconciler.loop.board) behind a real Ticker (the fake world of test_tick, a real
SQLite store): what the page and /api/status show after ticks, during one, and with the store gone."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from serve.pagekit import schema_errors

from loop.kit import A, B, plan
from loop.test_tick import FakeSource, FakeWorld
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import PermanentError
from reconciler.core.events import Event, UnitStarted
from reconciler.core.plan import Plan
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.loop.board import STORE_CACHE, Board, BoardSource
from reconciler.loop.runner import LoopState
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.planner.rollout import rollout_unit_id
from reconciler.state import StateStore, Trigger

SOURCE = BoardSource("https://github.com/acme/envs.git", "main", "environments/dev", "apply", 60.0)


class PlanningWorld(FakeWorld):
    """The fake world; ``during_apply`` runs while apply runs (the page is read mid-tick)."""

    during_apply: Any = None

    def apply(self, plan: Plan) -> ApplyReport:
        if self.during_apply is not None:
            self.during_apply()
        return super().apply(plan)


def make(tmp_path: Path, world: FakeWorld, open_store: Any = None) -> tuple[Ticker, Board, FakeSource]:
    store = SqliteStateStore.in_state_dir(tmp_path / "state")
    holder: list[Board] = []

    def on_event(event: Event) -> None:
        for b in holder:
            b.on_event(event)

    source = FakeSource(A)
    options = LoopOptions(repo="fake", path="environments/dev", overrides=Overrides(state_dir=tmp_path / "state"))
    ticker = Ticker(options, source, tmp_path / "loop", open_world=world.open, open_store=lambda _s: store,
                    owner_command="test", say=lambda _l: None, on_event=on_event,
                    on_plan=lambda p, r: holder[0].on_plan(p, r))  # fmt: skip
    board = Board(SOURCE, LoopState(), settings=lambda: ticker.settings,
                  open_store=open_store or (lambda _s: store), say=lambda _l: None)  # fmt: skip
    holder.append(board)
    return ticker, board, source


def test_before_any_tick_the_page_says_nothing_is_loaded(tmp_path: Path) -> None:
    _, board, _ = make(tmp_path, FakeWorld(found=[plan()]))
    document = json.loads(board.api())
    assert document["environments"] == [] and schema_errors(document) == []
    assert "No revision has been loaded yet" in board.page()


def test_after_ticks_it_shows_conditions_revisions_plan_and_history(tmp_path: Path) -> None:
    world = FakeWorld(found=[plan("/p/X"), plan()], outcome=lambda p: ApplyReport(
        tuple(ActionResult(a.address, a.kind, "failed", "AccessDenied") for a in p.actions)))  # fmt: skip
    ticker, board, source = make(tmp_path, world)
    ticker.tick(Trigger.POLL, "loop@test")
    board.tick_over()
    document = json.loads(board.api())
    assert schema_errors(document) == []
    [env] = document["environments"]
    assert env["name"] == "dev" and env["last_attempted"]["sha"] == A.sha and env["failed_revisions"] == [A.sha]
    assert env["last_applied"] is None and env["sync"] in ("OutOfSync", "Degraded")
    assert env["plan"]["revision"] == A.sha and env["plan"]["actions"][0]["address"] == "parameter:/p/X"
    assert env["history"][0]["result"] == "failed" and "AccessDenied" in env["history"][0]["error"]
    assert env["progress"]["phase"] == "idle" and env["lease_holder"] is None
    source.head = B
    source.known[B.sha] = B
    world.outcome = lambda p: ApplyReport(tuple(ActionResult(a.address, a.kind, "done") for a in p.actions))
    world.found = [plan("/p/Y"), plan()]
    ticker.tick(Trigger.WEBHOOK, "loop@test")
    board.tick_over()  # as the loop does after every tick (loop.serving.then_idle): the next request reads again
    [env] = json.loads(board.api())["environments"]
    assert env["last_applied"]["sha"] == B.sha and [e["revision"]["sha"] for e in env["history"]] == [B.sha, A.sha]
    assert json.loads(board.api(history=1))["environments"][0]["history"][0]["trigger"] == "webhook"
    page = board.page()
    assert "<h2>Environment dev" in page and B.sha[:12] in page and "AccessDenied" in page


def test_mid_tick_the_page_shows_the_deploy_and_the_rollout(tmp_path: Path) -> None:
    world = PlanningWorld(found=[plan("/p/X"), plan()])
    ticker, board, _ = make(tmp_path, world)
    seen: list[dict[str, Any]] = []

    def read_the_page() -> None:  # as a browser would, from another thread, while apply runs
        board.on_event(UnitStarted(rollout_unit_id("web", "1/leave"), None, None, 1))
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(board.api()))
        reader.start()
        reader.join()
        seen.append(json.loads(result[0]))

    world.during_apply = read_the_page
    ticker.tick(Trigger.POLL, "loop@test")
    [env] = seen[0]["environments"]
    assert env["progress"]["phase"] == "applying" and env["progress"]["revision"] == A.sha
    assert env["progress"]["rollout"]["fleet"] == "web" and env["progress"]["rollout"]["batch"] == 1
    assert env["lease_holder"] is not None and "test" in env["lease_holder"]  # the tick holds the lease
    assert schema_errors(seen[0]) == []


def test_a_store_that_cannot_be_read_is_shown_not_raised(tmp_path: Path) -> None:
    def broken(_settings: Settings) -> StateStore:
        raise PermanentError("state store", "cannot open /nowhere/state.db")

    world = FakeWorld(found=[plan()])
    ticker, _, _ = make(tmp_path, world)
    ticker.tick(Trigger.POLL, "loop@test")
    board = Board(SOURCE, LoopState(), settings=lambda: ticker.settings, open_store=broken, say=lambda _l: None)
    document = json.loads(board.api())
    [env] = document["environments"]
    assert "cannot open /nowhere/state.db" in env["store_error"] and env["history"] == []
    assert schema_errors(document) == [] and "could not be read" in board.page()


def test_a_read_serves_for_a_second_then_the_store_is_read_again(tmp_path: Path) -> None:
    world = FakeWorld(found=[plan()])
    ticker, _, _ = make(tmp_path, world)
    ticker.tick(Trigger.POLL, "loop@test")
    reads: list[str] = []
    store = SqliteStateStore.in_state_dir(tmp_path / "state")
    now = [100.0]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            reads.append(name)
            return getattr(store, name)

    board = Board(SOURCE, LoopState(), settings=lambda: ticker.settings, open_store=lambda _s: Counting(),
                  say=lambda _l: None, clock=lambda: now[0])  # fmt: skip
    board.api()
    board.page()
    assert reads == ["holder", "read_status", "history"]
    now[0] += STORE_CACHE + 0.1
    board.api()
    assert len(reads) == 6
    board.tick_over()
    board.api()
    assert len(reads) == 9
