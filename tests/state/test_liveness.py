"""Telling a lease holder that is gone from a live one, on real processes of this machine: the PID
and the process start time a lease owner records (/proc), never the PID alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from reconciler.drivers.state import holder_gone, liveness, this_process
from state.kit import gone_owner, restarted

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times come from /proc")


def test_this_process_records_where_and_when_it_started() -> None:
    me = this_process("pytest")
    assert (me.host, me.pid) == (socket.gethostname(), os.getpid())
    assert me.started is not None and me.started == liveness.started(os.getpid())
    boot, namespace, pid, ticks = me.started.split("/")
    assert len(boot) == 36 and namespace.isdigit() and pid == str(os.getpid()) and ticks.isdigit()
    assert holder_gone(me) is False  # alive


def test_an_ended_process_is_gone() -> None:
    assert holder_gone(gone_owner("reconciler apply environments/dev")) is True


def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    """kill -9 leaves a zombie until its parent waits for it: it runs nothing any more."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        owner = replace(this_process("reconciler apply"), pid=child.pid, started=liveness.started(child.pid))
        assert holder_gone(owner) is False
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while liveness.started(child.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder_gone(owner) is True
    finally:
        child.kill()
        child.wait(timeout=30)


def test_a_reused_pid_is_told_by_its_start_time() -> None:
    assert holder_gone(restarted(this_process("reconciler run"))) is True


def test_what_it_cannot_judge_is_not_gone() -> None:
    dead = gone_owner("reconciler apply environments/dev")
    assert dead.started is not None
    boot, namespace, pid, ticks = dead.started.split("/")
    for owner in (
        replace(dead, host="machine-elsewhere"),  # another machine
        replace(dead, started=None),  # no start time recorded (older code, another system)
        replace(dead, started=f"{'0' * 8}-0000-0000-0000-{'0' * 12}/{namespace}/{pid}/{ticks}"),  # another boot
        replace(dead, started=f"{boot}/1/{pid}/{ticks}"),  # another PID namespace (a container)
        replace(dead, pid=os.getpid()),  # a start time recorded for another PID (an older writer's row)
    ):
        assert holder_gone(owner) is False, owner
