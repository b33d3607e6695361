"""The loop's runner with a scripted tick (no I/O): backoff, wake-ups, readiness, --once."""

from __future__ import annotations

import threading

from reconciler.loop.outcome import TickOutcome
from reconciler.loop.runner import BACKOFF_BASE, Loop
from reconciler.state import Result, Trigger

OK = TickOutcome(Result.NO_CHANGE, "in sync")
TEMPORARY = TickOutcome(Result.FAILED, "moto down", error="unreachable", temporary=True)
PERMANENT = TickOutcome(Result.FAILED, "bad tag", error="tag 9.9.9 not found")


def loop(outcomes: list[TickOutcome], interval: float = 60.0) -> tuple[Loop, list[Trigger]]:
    seen: list[Trigger] = []

    def tick(trigger: Trigger, actor: str) -> TickOutcome:
        seen.append(trigger)
        return outcomes.pop(0) if outcomes else OK

    return Loop(tick, interval=interval, actor="test", say=lambda _l: None, rand=lambda: 0.5), seen


def test_temporary_failures_back_off_exponentially_up_to_the_interval() -> None:
    runner, _ = loop([])
    delays = []
    for _ in range(8):
        runner.state.failures_in_a_row += 1
        delays.append(runner.delay(TEMPORARY))
    assert delays[:4] == [BACKOFF_BASE, BACKOFF_BASE * 2, BACKOFF_BASE * 4, BACKOFF_BASE * 8]
    assert max(delays) == 60.0  # never longer than the interval
    assert runner.delay(PERMANENT) == 60.0 and runner.delay(OK) == 60.0  # a permanent failure waits the interval


def test_a_wake_starts_a_tick_at_once_and_stop_ends_the_loop() -> None:
    runner, seen = loop([], interval=3600)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        for _ in range(100):
            if seen:
                break
            threading.Event().wait(0.01)
        runner.wake(Trigger.WEBHOOK, "push")
        for _ in range(200):
            if len(seen) >= 2:
                break
            threading.Event().wait(0.01)
        assert seen[:2] == [Trigger.POLL, Trigger.WEBHOOK]
    finally:
        runner.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_readiness_and_once_exit_codes() -> None:
    runner, _ = loop([PERMANENT])
    assert runner.state.readiness()[0] is False  # nothing finished yet
    assert runner.run(once=True) == 1
    ready, why = runner.state.readiness()
    assert not ready and "tag 9.9.9" in why
    runner, _ = loop([TEMPORARY])
    assert runner.run(once=True) == 1 and runner.state.readiness()[0]  # temporary: still ready
    runner, _ = loop([TickOutcome(Result.PLANNED, "plan only", changes=True)])
    assert runner.run(once=True) == 2


def test_an_unexpected_error_in_a_tick_does_not_end_the_loop() -> None:
    calls = []

    def tick(trigger: Trigger, actor: str) -> TickOutcome:
        calls.append(trigger)
        raise RuntimeError("bug")

    runner = Loop(tick, interval=60, actor="t", say=lambda _l: None)
    assert runner.run(once=True) == 1
    assert runner.state.last is not None and "RuntimeError: bug" in (runner.state.last.error or "")
