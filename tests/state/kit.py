"""Shared by the state store tests: a fake clock and a handle on a backend's storage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.state import StateStore

START = 1_700_000_000.0  # fake clocks start here (2023-11-14T22:13:20Z)


class FakeClock:
    """Epoch seconds that move only when told (or when something sleeps on it)."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    name: str
    open: Callable[[Callable[[], float], Callable[[float], None]], StateStore]

    def store(self, clock: FakeClock | None = None) -> StateStore:
        """A new client of this backend's storage, on ``clock`` (the real clock when None)."""
        if clock is None:
            return self.open(time.time, time.sleep)
        return self.open(clock, clock.sleep)
