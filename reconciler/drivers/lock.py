"""An exclusive lock per environment on this machine: one writer at a time. Does I/O (a file).

``apply`` (and later the loop and rollback) holds it for the whole run, from
the plan to the report. It is an ``flock`` on ``<state dir>/<env>.lock``:
the kernel releases it when the holder exits, however it exits (kill -9
included), so a crashed holder never blocks anyone. The file says who holds
it (host, PID, command, start time) so a second writer can wait
(``timeout``) or refuse naming the holder. Plans take no lock: they only read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from reconciler.errors import ReconcilerError

POLL_SECONDS = 0.2


class LockHeld(ReconcilerError):
    """Another run holds the environment's lock."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    command: str
    started: str  # ISO 8601, UTC

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid} on {self.host}, since {self.started})"


def _read_holder(handle: IO[str]) -> Holder | None:
    handle.seek(0)
    try:
        data = json.loads(handle.read() or "null")
        return Holder(str(data["host"]), int(data["pid"]), str(data["command"]), str(data["started"]))
    except (ValueError, TypeError, KeyError):
        return None


@contextlib.contextmanager
def environment_lock(
    state_dir: Path,
    environment: str,
    *,
    command: str,
    timeout: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Holder | None], None] = lambda _holder: None,
) -> Iterator[Holder]:
    """Hold the lock of ``environment`` while the block runs. Waits up to ``timeout`` seconds
    for another holder (``on_wait`` is told once who it is), then raises LockHeld naming it."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / f"{environment}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        deadline = clock() + max(timeout, 0.0)
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(handle)
                if clock() >= deadline:
                    who = holder.describe() if holder else "another run"
                    waited = f" after waiting {timeout:g}s" if timeout > 0 else ""
                    raise LockHeld(
                        f"environment {environment} is locked by {who}{waited}; "
                        f"try again later or wait with --lock-timeout (lock file {path})"
                    ) from None
                if not told:
                    on_wait(holder)
                    told = True
                sleep(POLL_SECONDS)
        me = Holder(socket.gethostname(), os.getpid(), command, datetime.now(UTC).isoformat(timespec="seconds"))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(me.__dict__))
        handle.flush()
        try:
            yield me
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
