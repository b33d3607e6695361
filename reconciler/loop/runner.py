"""The loop: a tick, then a wait; woken at once by a push (webhook) or a new local commit.
Does I/O (threads, the clock) around the ticks.

Level-triggered: every tick looks at everything, whatever woke it. After a
tick that ended well (or failed permanently: the failed revision is not
retried until something changes) the loop waits ``interval`` seconds with
±10% jitter; after a temporary failure (unreachable, throttled, the lease
held by someone else) it backs off exponentially (2 s, 4 s, ... up to
``backoff_cap``, with jitter), but a push or a commit always starts a tick
at once. A failing tick never ends the loop; a stop request (SIGTERM,
Ctrl-C) ends it after the tick in progress, never in the middle of an apply.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.loop.outcome import TickOutcome
from reconciler.loop.watchdog import Progress
from reconciler.serve.metrics import LoopMetrics
from reconciler.state import Reason, Result, Trigger

BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
JITTER = 0.1

Tick = Callable[[Trigger, str], TickOutcome]


@dataclass
class LoopState:
    """What /readyz and the log report: the last tick and whether one is running."""

    ticks: int = 0
    running: bool = False
    last: TickOutcome | None = None
    failures_in_a_row: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def readiness(self) -> tuple[bool, str]:
        with self.lock:
            if self.running:
                return True, "a tick is in progress"
            if self.last is None:
                return False, "no tick has finished yet"
            last = self.last
        if last.error is not None and not last.temporary:
            return False, f"the last tick failed: {last.error}"
        return True, f"last tick: {last.result.value}: {last.reason}"


class Loop:
    def __init__(
        self,
        tick: Tick,
        *,
        interval: float,
        actor: str,
        say: Callable[[str], None],
        backoff_cap: float = BACKOFF_CAP,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        metrics: LoopMetrics | None = None,
        progress: Progress | None = None,
        on_line: Callable[[str], object] | None = None,
    ) -> None:
        self.metrics = metrics
        self.progress = progress  # the watchdog's view: a tick running, and since when
        self.on_line = on_line  # each tick's line once more (systemd's STATUS)
        self.tick = tick
        self.interval = interval
        self.actor = actor
        self.say = say
        self.backoff_cap = backoff_cap
        self.rand = rand
        self.clock = clock
        self.state = LoopState()
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._pending: tuple[Trigger, str] | None = None
        self._pending_lock = threading.Lock()

    # ---- from other threads ----------------------------------------------------------

    def wake(self, trigger: Trigger, why: str) -> None:
        """Start a tick at once (a push, a new local commit)."""
        with self._pending_lock:
            self._pending = (trigger, why)
        self._wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    # ---- the loop ------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> int:
        trigger, why = Trigger.POLL, "start"
        while True:
            outcome = self._one(trigger, why)
            if once:
                return outcome.exit_code
            delay = self.delay(outcome)
            self.say(f"next tick in {delay:.0f}s unless a push or a commit comes first")
            self._wake.wait(delay)
            if self.stopping.is_set():
                self.say("stopped")
                return 0
            with self._pending_lock:
                pending, self._pending = self._pending, None
                self._wake.clear()
            trigger, why = pending or (Trigger.POLL, "interval")

    def _one(self, trigger: Trigger, why: str) -> TickOutcome:
        with self.state.lock:
            self.state.running = True
            self.state.ticks += 1
            number = self.state.ticks
        if self.progress is not None:
            self.progress.tick(running=True)
        started = self.clock()
        try:
            outcome = self.tick(trigger, f"{self.actor} ({trigger.value}: {why})")
        except Exception as exc:  # a bug must not end the loop; it is reported and retried
            outcome = TickOutcome(Result.FAILED, "unexpected error", error=f"{type(exc).__name__}: {exc}",
                                  temporary=True, cause=Reason.UNEXPECTED.value)  # fmt: skip
        seconds = self.clock() - started
        with self.state.lock:
            self.state.running = False
            self.state.last = outcome
            self.state.failures_in_a_row = self.state.failures_in_a_row + 1 if outcome.temporary else 0
        if self.progress is not None:
            self.progress.tick(running=False)
        line = _line(number, trigger, outcome, seconds)
        self.say(line)
        if self.on_line is not None:
            self.on_line(line.splitlines()[0])
        if self.metrics is not None:
            self._count(trigger, outcome)
        return outcome

    def _count(self, trigger: Trigger, outcome: TickOutcome) -> None:
        assert self.metrics is not None
        failure = None
        if outcome.error is not None:
            failure = ("temporary" if outcome.temporary else "permanent", outcome.cause or Reason.UNEXPECTED.value)
        applied = outcome.result in (Result.APPLIED, Result.PARTIAL, Result.FAILED) and outcome.changes
        self.metrics.tick(environment=outcome.environment or "", result=outcome.result.value, trigger=trigger.value,
                          failure=failure, applied=applied,
                          success=outcome.result in (Result.APPLIED, Result.NO_CHANGE))  # fmt: skip

    def delay(self, outcome: TickOutcome) -> float:
        """Seconds until the next tick (a push or a commit comes sooner)."""
        if outcome.temporary:
            n = max(1, self.state.failures_in_a_row)
            base = min(self.backoff_cap, BACKOFF_BASE * 2 ** (n - 1), self.interval)
        else:
            base = self.interval
        return float(max(0.1, base * (1 + JITTER * (2 * self.rand() - 1))))


def _line(number: int, trigger: Trigger, outcome: TickOutcome, seconds: float) -> str:
    where = f" {outcome.environment}" if outcome.environment else ""
    rev = f" at {outcome.revision.sha[:12]}" if outcome.revision is not None else ""
    text = f"tick {number} ({trigger.value}){where}{rev}: {outcome.result.value} in {seconds:.1f}s — {outcome.reason}"
    if outcome.error:
        kind = "temporary, retrying with backoff" if outcome.temporary else "permanent"
        text += f"\n  error ({kind}): {outcome.error}"
    return text
