"""The notification queues: one worker thread per destination, bounded retries with backoff. Does
I/O (threads) around what it is given (the gate, the delivery).

:meth:`Notifier.publish` is all a tick pays: the gate, the destinations' filters and a
queue append (microseconds). Each destination's worker sends in order; a temporary failure
(unreachable, 429, 5xx) is retried after 1, 2, 4 ... up to ``cap`` seconds, at most
``attempts`` times (about ten minutes with the defaults: a provider down for a while gets
its messages afterwards); a permanent one (a 4xx, a variable not set) is dropped at once.
Every outcome is logged (one line, the destination's name, never its URL) and counted
(``count(destination, outcome)``: sent, retried, failed, dropped). A queue holds at most
``limit`` messages; past it the oldest is dropped and counted. Nothing here ever raises
into the loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.core.errors import ReconcilerError, TemporaryError
from reconciler.core.notices import Destination, DestinationType, Notice
from reconciler.notify.delivery import Delivery
from reconciler.notify.gate import Gate

Count = Callable[[str, str], None]  # (destination name, outcome)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 16
    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds before the next try after ``failures`` failed ones (the server's Retry-After when longer)."""
        wait = min(self.cap, self.base * 2 ** (failures - 1))
        return float(max(wait, min(retry_after or 0.0, self.cap)))


class _Worker:
    """One destination's queue and thread."""

    def __init__(self, notifier: Notifier, destination: Destination) -> None:
        self.n = notifier
        self.destination = destination
        self.items: deque[Notice] = deque()
        self.wake = threading.Condition()
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=f"notify-{destination.name}", daemon=True)
        self.thread.start()

    def put(self, notice: Notice) -> None:
        with self.wake:
            if len(self.items) >= self.n.limit:
                dropped = self.items.popleft()
                self.n.say(f"notification {self.destination.name}: queue full, dropped {dropped.kind.value}")
                self.n.count(self.destination.name, "dropped")
            self.items.append(notice)
            self.wake.notify()

    def idle(self) -> bool:
        with self.wake:
            return not self.items and not self.busy

    def _take(self) -> list[Notice] | None:
        with self.wake:
            while not self.items and not self.n.stopping.is_set():
                self.wake.wait(0.5)
            if not self.items:
                return None
            self.busy = True
            if self.destination.type is DestinationType.CLOUDWATCH:  # batched: every data point waiting
                batch = list(self.items)
                self.items.clear()
                return batch
            return [self.items.popleft()]

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._deliver(batch)
            finally:
                with self.wake:
                    self.busy = False

    def _deliver(self, batch: list[Notice]) -> None:
        name, what = self.destination.name, ", ".join(n.kind.value for n in batch)
        policy = self.n.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                self.n.delivery.send(self.destination, batch)
            except TemporaryError as exc:
                if attempt == policy.attempts or self.n.stopping.is_set():
                    self.n.say(f"notification {name}: {what} not delivered after {attempt} tries: {exc}")
                    self.n.count(name, "failed")
                    return
                delay = policy.delay(attempt, exc.retry_after)
                self.n.say(f"notification {name}: {exc}; retrying in {delay:g}s")
                self.n.count(name, "retried")
                self.n.stopping.wait(delay)
                continue
            except ReconcilerError as exc:
                self.n.say(f"notification {name}: {what} not delivered: {exc}")
                self.n.count(name, "failed")
                return
            except Exception as exc:  # a bug must not end the worker (nor reach the loop)
                self.n.say(f"notification {name}: {what} not delivered: {type(exc).__name__}")
                self.n.count(name, "failed")
                return
            self.n.count(name, "sent")
            return


class Notifier:
    """Publishes notices to destinations through per-destination queues."""

    def __init__(
        self,
        delivery: Delivery,
        *,
        gate: Gate | None = None,
        policy: RetryPolicy = RetryPolicy(),
        say: Callable[[str], None] = lambda _line: None,
        count: Count = lambda _name, _outcome: None,
        limit: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.delivery = delivery
        self.gate = gate or Gate()
        self.policy = policy
        self.say = say
        self.count = count
        self.limit = limit
        self.clock = clock
        self.stopping = threading.Event()
        self._workers: dict[Destination, _Worker] = {}
        self._lock = threading.Lock()

    def publish(self, notices: Iterable[Notice], destinations: Iterable[Destination]) -> int:
        """Queue each new notice for every destination that wants it; how many messages were queued."""
        targets = tuple(destinations)
        queued = 0
        for notice in notices:
            if not self.gate.admit(notice, self.clock()):
                continue
            for destination in targets:
                if destination.wants(notice):
                    self._worker(destination).put(notice)
                    queued += 1
        return queued

    def _worker(self, destination: Destination) -> _Worker:
        with self._lock:
            worker = self._workers.get(destination)
            if worker is None:
                worker = self._workers[destination] = _Worker(self, destination)
            return worker

    def drain(self, timeout: float) -> bool:
        """Wait until every queue is empty (or ``timeout`` seconds); whether they are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                workers = list(self._workers.values())
            if all(w.idle() for w in workers):
                return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Give the queues ``timeout`` seconds to drain, then stop the workers (retries end)."""
        self.drain(timeout)
        self.stopping.set()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            with worker.wake:
                worker.wake.notify()
            worker.thread.join(timeout=2)
