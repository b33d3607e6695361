"""Which notices are sent: one per kind and revision, a flapping condition once per window. Pure
(a memory of what passed, bounded).

Argo CD's ``oncePer`` (a revision) for the deploy notices; Flux's five-minute window for
the ones a flapping condition repeats (Degraded, Recovered: one message per environment
and kind within the window, whatever the revision). The memory is the process's: a loop
that restarts may tell once more what it told before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from reconciler.core.notices import WINDOWED, Notice

WINDOW = 300.0  # seconds (Flux's 5 minutes)
REMEMBERED = 4096


class Gate:
    def __init__(self, window: float = WINDOW, remembered: int = REMEMBERED) -> None:
        self.window = window
        self.remembered = remembered
        self._seen: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, notice: Notice, now: float) -> bool:
        """True the first time ``notice`` is seen (its kind and revision; for a windowed kind its
        environment and kind within the window), and remember it."""
        windowed = notice.kind in WINDOWED
        key: tuple[str, ...] = (notice.environment, notice.kind.value) if windowed else notice.key
        with self._lock:
            last = self._seen.get(key)
            if last is not None and (not windowed or now - last < self.window):
                return False
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.remembered:
                self._seen.popitem(last=False)
            return True
