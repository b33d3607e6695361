"""The SQLite store across real OS processes: contention, kill -9 of a holder, a paused holder
fenced, its file's modes and its busy errors. No sandbox needed."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.errors import TemporaryError
from reconciler.drivers.state import holder_gone, this_process
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.state import EnvironmentStatus, LeaseHeld, LeaseOwner, acquire
from state.kit import gone_owner

ME = LeaseOwner("test-host", os.getpid(), "pytest")

# K of these run at once: each round takes the lease (waiting), reads the last history
# entry's number, writes number + 1 to status and history, and lets go. A lost update or
# two holders at once shows as a gap, a repeat or an overlap in the history.
WORKER = """
import os, sys, time
from pathlib import Path
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.state import EnvironmentStatus, HistoryEntry, LeaseOwner, Result, Trigger, acquire
store = SqliteStateStore(Path(sys.argv[1]), poll=0.005)
owner = LeaseOwner("test-host", os.getpid(), sys.argv[2])
for _ in range(int(sys.argv[3])):
    lease = acquire(store, "dev", owner, 30.0, wait=120.0)
    start = time.time()
    last = store.history("dev", limit=1)
    n = last[0].actions["n"] + 1 if last else 1
    time.sleep(0.002)
    store.write_status(lease, EnvironmentStatus("dev", updated_at=float(n)))
    store.append_history(lease, HistoryEntry(environment="dev", revision=None, started_at=start,
                                             finished_at=time.time(), trigger=Trigger.MANUAL, actor=sys.argv[2],
                                             result=Result.APPLIED, actions={"n": n}))
    assert store.release(lease)
"""

# Takes the lease for 1 s, says so, then waits for a line on stdin (as if paused) and tries to write.
HOLDER = """
import os, sys
from pathlib import Path
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.state import EnvironmentStatus, Fenced, LeaseOwner, acquire
store = SqliteStateStore(Path(sys.argv[1]))
lease = acquire(store, "dev", LeaseOwner("test-host", os.getpid(), "reconciler run (test holder)"), 1.0)
store.write_status(lease, EnvironmentStatus("dev", last_error="from the holder"))
print("held", lease.token, flush=True)
sys.stdin.readline()
try:
    store.write_status(lease, EnvironmentStatus("dev", last_error="stale write"))
    print("wrote", flush=True)
except Fenced as e:
    print("fenced:", e, flush=True)
"""


def spawn(script: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture()
def holder(db: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = spawn(HOLDER, str(db), stdin=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line[:1] == ["held"], proc.stderr.read() if proc.stderr else ""
    yield proc, int(line[1])
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_processes_contending_take_turns_without_losing_an_update(db: Path) -> None:
    k, rounds = 3, 8
    procs = [spawn(WORKER, str(db), f"worker-{i}", str(rounds)) for i in range(k)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = SqliteStateStore(db)
    history = list(reversed(store.history("dev", limit=1000)))  # oldest first
    assert [h.actions["n"] for h in history] == list(range(1, k * rounds + 1))
    assert {h.actor for h in history} == {f"worker-{i}" for i in range(k)}
    tokens = [h.token for h in history]
    assert tokens == sorted(set(tokens))  # a new, greater token on every grant
    for before, after in itertools.pairwise(history):
        assert before.finished_at <= after.started_at  # never two holders at once
    assert store.read_status("dev").updated_at == float(k * rounds)
    assert store.holder("dev") is None


def test_kill_9_of_the_holder_lets_another_take_over_after_expiry(
    db: Path, holder: tuple[subprocess.Popen[str], int]
) -> None:
    proc, token = holder
    store = SqliteStateStore(db)
    with pytest.raises(LeaseHeld) as info:
        acquire(store, "dev", ME, 30.0)
    assert f"pid {proc.pid}" in str(info.value) and "reconciler run (test holder)" in str(info.value)
    expires = info.value.holder.expires_at
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lease = acquire(store, "dev", ME, 30.0, wait=10.0)
    assert time.time() >= expires and lease.token > token and lease.owner == ME
    assert store.read_status("dev").last_error == "from the holder"  # what it wrote survives


def test_a_paused_holder_cannot_write_after_a_takeover(db: Path, holder: tuple[subprocess.Popen[str], int]) -> None:
    proc, token = holder
    store = SqliteStateStore(db)
    lease = acquire(store, "dev", ME, 30.0, wait=10.0)  # the holder sleeps past its 1 s lease
    store.write_status(lease, EnvironmentStatus("dev", last_error="from the new holder"))
    out, _ = proc.communicate("resume\n", timeout=30)  # the holder wakes up and tries to write
    assert out.startswith("fenced:") and f"token {token}" in out and f"pid {os.getpid()}" in out
    assert store.read_status("dev").last_error == "from the new holder"


def test_the_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = SqliteStateStore.in_state_dir(tmp_path / "fresh" / "state")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fresh" / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    conn = sqlite3.connect(store.path, isolation_level=None)  # a writer in the middle: -wal and -shm exist
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO environments (environment) VALUES ('x')")
        for suffix in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(f"{store.path}{suffix}").stat().st_mode) == 0o600
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_busy_database_is_a_temporary_error_naming_the_file(db: Path) -> None:
    store = SqliteStateStore(db, busy_timeout=0.2)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer that does not let go
        with pytest.raises(TemporaryError) as info:
            acquire(store, "dev", ME, 30.0)
        assert str(db) in str(info.value)
        assert store.holder("dev") is None  # readers are not blocked by a writer (WAL)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert acquire(store, "dev", ME, 30.0).token == 1


# The schema and the grant of the code before process start times were recorded: a file it made is
# opened by this code, and it keeps reading and writing a file this code made.
OLD_SCHEMA = """
CREATE TABLE environments (environment TEXT PRIMARY KEY, token INTEGER NOT NULL DEFAULT 0,
    host TEXT, pid INTEGER, command TEXT, expires_at REAL NOT NULL DEFAULT 0,
    acquired_at REAL NOT NULL DEFAULT 0, ttl REAL NOT NULL DEFAULT 0, status TEXT,
    suspended INTEGER NOT NULL DEFAULT 0, pin TEXT);
CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL,
    token INTEGER NOT NULL, entry TEXT NOT NULL);
"""
OLD_GRANT = (
    "INSERT INTO environments (environment, token, host, pid, command, expires_at, ttl, acquired_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment) DO UPDATE SET"
    " token = excluded.token, host = excluded.host, pid = excluded.pid, command = excluded.command,"
    " expires_at = excluded.expires_at, ttl = excluded.ttl, acquired_at = excluded.acquired_at"
)
OLD_READ = "SELECT token, host, pid, command, expires_at, ttl, acquired_at FROM environments WHERE environment = ?"


def test_a_file_of_older_code_is_read_and_stays_readable_by_it(db: Path) -> None:
    db.parent.mkdir(mode=0o700, parents=True)
    old = sqlite3.connect(db, isolation_level=None)
    try:
        old.executescript(OLD_SCHEMA)
        old.execute(OLD_GRANT, ("dev", 3, "test-host", os.getpid(), "old apply", time.time() + 30, 30.0, time.time()))
    finally:
        old.close()
    store = SqliteStateStore(db)  # gets the new column
    held = store.holder("dev")
    assert held is not None and held.token == 3 and held.owner.started is None  # no start time: never judged gone
    with pytest.raises(LeaseHeld):
        acquire(store, "dev", this_process("reconciler apply"), 30.0, gone=holder_gone)
    store.release(held)
    dead = gone_owner("reconciler apply environments/dev")
    lease = acquire(store, "dev", dead, 30.0)
    assert store.holder("dev") == lease and lease.owner.started == dead.started
    old = sqlite3.connect(db, isolation_level=None)
    try:
        assert old.execute(OLD_READ, ("dev",)).fetchone()[:4] == (4, dead.host, dead.pid, dead.command)
        # older code grants over the expired lease, leaving the start time of the gone holder behind
        old.execute(OLD_GRANT, ("dev", 5, "test-host", os.getpid(), "old apply", time.time() + 30, 30.0, time.time()))
    finally:
        old.close()
    live = store.holder("dev")
    assert live is not None and live.owner.pid == os.getpid() and live.owner.started == dead.started
    with pytest.raises(LeaseHeld):  # the start time is of another PID: the live older holder is not taken over
        acquire(store, "dev", this_process("reconciler apply"), 30.0, gone=holder_gone)


def test_a_file_made_before_jobs_gets_their_table_when_opened(tmp_path: Path) -> None:
    """Older code made state.db without the jobs table: opening it adds the table, nothing else moves."""
    import sqlite3

    from reconciler.core.jobs import JobRecord
    from reconciler.drivers.state.sqlite import SqliteStateStore

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE environments (environment TEXT PRIMARY KEY, token INTEGER NOT NULL DEFAULT 0, host TEXT,"
        " pid INTEGER, command TEXT, expires_at REAL NOT NULL DEFAULT 0, acquired_at REAL NOT NULL DEFAULT 0,"
        " ttl REAL NOT NULL DEFAULT 0, status TEXT, suspended INTEGER NOT NULL DEFAULT 0, pin TEXT);"
        " INSERT INTO environments (environment, pin) VALUES ('dev', 'abc');"
        " CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL,"
        " token INTEGER NOT NULL, entry TEXT NOT NULL);"
    )
    conn.close()
    store = SqliteStateStore(path)
    assert store.jobs_done("dev") == frozenset() and store.read_status("dev").pin == "abc"
    store.record_job("dev", JobRecord("popcon", "migrate", "f" * 64, "default", 1.0))
    assert store.jobs_done("dev") == {("popcon", "migrate", "f" * 64)}
