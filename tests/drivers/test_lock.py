"""The per-environment lock: a real flock held by real processes (no sandbox needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.drivers.lock import Holder, LockHeld, environment_lock

HOLD = """
import sys, time
from pathlib import Path
from reconciler.drivers.lock import environment_lock
with environment_lock(Path(sys.argv[1]), "dev", command="reconciler apply (test holder)"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def holder(state_dir: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state_dir), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture()
def held(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = holder(tmp_path, 60)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path, held: subprocess.Popen[str]) -> None:
    with pytest.raises(LockHeld) as info, environment_lock(tmp_path, "dev", command="reconciler apply"):
        pass
    message = str(info.value)
    assert f"pid {held.pid}" in message and "reconciler apply (test holder)" in message
    assert "--lock-timeout" in message and str(tmp_path / "dev.lock") in message


def test_other_environments_are_not_blocked(tmp_path: Path, held: subprocess.Popen[str]) -> None:
    with environment_lock(tmp_path, "prod", command="reconciler apply") as me:
        assert me.pid == os.getpid()


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    proc = holder(tmp_path, 1.0)
    told: list[Holder | None] = []
    try:
        with environment_lock(tmp_path, "dev", command="second", timeout=60, on_wait=told.append) as me:
            assert proc.wait(timeout=5) == 0  # the holder had finished before we got in
            assert me.command == "second"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(told) == 1 and told[0] is not None and told[0].pid == proc.pid


def test_kill_9_of_the_holder_never_blocks_anyone(tmp_path: Path, held: subprocess.Popen[str]) -> None:
    os.killpg(held.pid, signal.SIGKILL)
    held.wait()
    with environment_lock(tmp_path, "dev", command="after the crash") as me:
        assert me.command == "after the crash"


def test_the_wait_is_bounded(tmp_path: Path, held: subprocess.Popen[str]) -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(LockHeld, match=r"after waiting 2s"), environment_lock(
        tmp_path, "dev", command="x", timeout=2, clock=clock, sleep=sleep
    ):
        pass
    assert 2 <= now[0] < 3


def test_the_lock_file_is_private_and_emptied_on_release(tmp_path: Path) -> None:
    with environment_lock(tmp_path, "dev", command="reconciler apply"):
        assert "reconciler apply" in (tmp_path / "dev.lock").read_text()
    assert (tmp_path / "dev.lock").stat().st_mode & 0o077 == 0
    assert (tmp_path / "dev.lock").read_text() == ""
    time.sleep(0)  # released: a second run gets it at once
    with environment_lock(tmp_path, "dev", command="again"):
        pass
