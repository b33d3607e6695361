"""The systemd watchdog fed by the loop: pinged while the loop makes progress, silent when it hangs.
Does I/O (a thread, the notifier it is given).

Every half watchdog period the thread asks the loop whether it is alive: waiting between
ticks, or inside a tick that made progress (an event: a plan, an action, a health wait)
within the period. A tick stuck with no event for the whole period stops the pings, and
systemd (``Restart=always``) restarts the service; the lease it held expires and the next
process takes it over. ``READY=1`` once the loop runs, ``STATUS=`` after every tick,
``STOPPING=1`` when it stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class SystemdNotifier(Protocol):
    watchdog: float | None

    def ping(self) -> bool: ...


class Progress:
    """When the loop last showed it is alive (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._at = clock()
        self._in_tick = False
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._at = self.clock()

    def tick(self, running: bool) -> None:
        with self._lock:
            self._in_tick = running
            self._at = self.clock()

    def alive(self, within: float) -> bool:
        with self._lock:
            return not self._in_tick or self.clock() - self._at < within


class Watchdog:
    def __init__(self, notifier: SystemdNotifier, progress: Progress) -> None:
        self.notifier = notifier
        self.progress = progress
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> Watchdog:
        period = self.notifier.watchdog
        if period is None:
            return self
        self.thread = threading.Thread(target=self._run, args=(period,), name="reconciler-watchdog", daemon=True)
        self.thread.start()
        return self

    def _run(self, period: float) -> None:
        while not self.stop.wait(period / 2):
            if self.progress.alive(within=period):
                self.notifier.ping()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=2)
