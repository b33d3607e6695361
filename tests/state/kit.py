"""Shared by the state store tests: a fake clock, a handle on a backend's storage, owners that are gone."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler.drivers.state import liveness
from reconciler.state import LeaseOwner, StateStore

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


def gone_owner(command: str) -> LeaseOwner:
    """A lease owner of this machine whose process has ended: a child that ran, recorded as
    :func:`this_process` records itself (host, PID, start time), then killed and reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        owner = LeaseOwner(socket.gethostname(), child.pid, command, started=liveness.started(child.pid))
    finally:
        child.kill()
        child.wait(timeout=30)
    assert owner.started is not None, "no process start time on this system (/proc)"
    return owner


def restarted(owner: LeaseOwner) -> LeaseOwner:
    """``owner`` as if its PID now belonged to a process that started at another time."""
    assert owner.started is not None
    scope, _, ticks = owner.started.rpartition("/")
    return replace(owner, started=f"{scope}/{int(ticks) + 1}")
