"""Whether a lease's holder still runs: process identities from the kernel. Does I/O (reads /proc).

A lease owner records where and when its process started (:func:`started`):
``<boot id>/<PID namespace>/<PID>/<start time in clock ticks>`` on Linux, read
from ``/proc/sys/kernel/random/boot_id``, ``/proc/self/ns/pid`` and field 22
of ``/proc/<pid>/stat``; None elsewhere. :func:`gone` judges a holder: it is
gone only when it names this machine (same host name, same boot, same PID
namespace: its PID means here what it meant there) and its PID now belongs to
no process, to a zombie, or to a process that started at another time (the
PID was reused). Anything it cannot tell (another machine, an unknown start
time, a process it may not inspect) is not gone: that lease expires by its TTL.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")
_DEAD_STATES = ("Z", "X")  # a zombie (killed, not yet reaped) or dead


def _scope() -> str | None:
    """``<boot id>/<PID namespace>`` of this process: where a PID names the same process."""
    try:
        boot = (PROC / "sys" / "kernel" / "random" / "boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat(PROC / "self" / "ns" / "pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of process ``pid``; None when it cannot be read."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": comm may hold spaces
        return fields[0], int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def started(pid: int) -> str | None:
    """Where and when process ``pid`` of this machine started (see the module docstring), None when
    it cannot be told (not Linux, no such process, /proc hidden)."""
    scope, stat = _scope(), _stat(pid)
    if scope is None or stat is None or stat[0] in _DEAD_STATES:
        return None
    return f"{scope}/{pid}/{stat[1]}"


def gone(host: str, pid: int, recorded: str | None) -> bool:
    """Whether the process ``pid`` on ``host`` that started as ``recorded`` no longer runs."""
    if recorded is None or host != socket.gethostname():
        return False
    scope, _, rest = recorded.rpartition("/")  # rest: the start ticks
    here = _scope()
    if here is None or scope != f"{here}/{pid}":  # another boot or namespace, or a PID it does not describe
        return False
    stat = _stat(pid)
    if stat is None:
        return not _exists(pid)
    state, ticks = stat
    return state in _DEAD_STATES or str(ticks) != rest
