"""The embedded state store: one SQLite file in the state dir (one machine, no AWS). Does I/O.

:class:`SqliteStateStore` keeps every environment of a state dir in
``<state dir>/state.db`` (created ``0600`` in a ``0700`` dir; SQLite gives its
``-wal``/``-shm`` files the same mode): table ``environments`` (the lease in
native columns, the status as JSON, the admin fields ``suspended`` and ``pin``
in their own columns) and table ``history`` (append-only, ordered by an
autoincrement sequence), and table ``jobs`` (one row per job that succeeded, keyed by environment,
stack, job and hash; created when a file made before it is opened, as every table is).
WAL mode; a busy timeout waits for other writers.

Every operation opens its own connection and runs in one transaction; the
writes start with ``BEGIN IMMEDIATE``, which takes the database's write lock
*before* reading, so check-then-write (is the lease free? is this token
current?) is atomic across threads and processes. Fencing: the token column
only grows (``token + 1`` on every grant; release keeps it), and status and
history writes check, in the same transaction, that the lease's token is
current, not released and not expired. A holder killed with SIGKILL leaves its
row behind; it stops counting at ``expires_at``, or at once for an actor of the
same machine that sees the process is gone (the ``started`` column: a grant
``replacing`` its token). SQLite's busy/locked errors
become :class:`~reconciler.core.errors.TemporaryError`, others
:class:`~reconciler.core.errors.PermanentError`, naming the file. No secret values
are stored: callers hand in messages already redacted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.core.jobs import JobKey, JobRecord
from reconciler.state import codec
from reconciler.state.lease import Clock, Fenced, Lease, LeaseHeld, LeaseLost, LeaseOwner, Sleep
from reconciler.state.status import EnvironmentStatus, HistoryEntry

FILENAME = "state.db"
BUSY_TIMEOUT = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS environments (
    environment TEXT PRIMARY KEY,
    token INTEGER NOT NULL DEFAULT 0,
    host TEXT, pid INTEGER, command TEXT, started TEXT,
    expires_at REAL NOT NULL DEFAULT 0,
    acquired_at REAL NOT NULL DEFAULT 0,
    ttl REAL NOT NULL DEFAULT 0,
    status TEXT,
    suspended INTEGER NOT NULL DEFAULT 0,
    pin TEXT
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    token INTEGER NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_environment ON history (environment, seq);
CREATE TABLE IF NOT EXISTS jobs (
    environment TEXT NOT NULL,
    stack TEXT NOT NULL,
    job TEXT NOT NULL,
    hash TEXT NOT NULL,
    host TEXT NOT NULL,
    finished_at REAL NOT NULL,
    seconds REAL NOT NULL DEFAULT 0,
    output TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (environment, stack, job, hash)
);
"""
LEASE_COLUMNS = "token, host, pid, command, expires_at, ttl, acquired_at, started"
# added after the first release: a file made before it gets the column when opened (code of
# before it reads and writes the file as ever, ignoring the column)
ADDED_COLUMNS = {"started": "TEXT"}


def _lease(environment: str, row: tuple[object, ...] | None) -> Lease | None:
    """The lease in a row of LEASE_COLUMNS (expired or not), None when released or never granted."""
    if row is None or row[1] is None:
        return None
    token, host, pid, command, expires_at, ttl, acquired_at, started = row
    owner = LeaseOwner(str(host), int(str(pid)), str(command), None if started is None else str(started))
    return Lease(environment, owner, int(str(token)), float(str(expires_at)), float(str(ttl)), float(str(acquired_at)))


def _add_columns(conn: sqlite3.Connection) -> None:
    """Give a file made by older code the columns added since (another process may do it first)."""
    have = {str(row[1]) for row in conn.execute("PRAGMA table_info(environments)")}
    for name, kind in ADDED_COLUMNS.items():
        if name not in have:
            try:
                conn.execute(f"ALTER TABLE environments ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as e:
                if "duplicate column" not in str(e):
                    raise


class SqliteStateStore:
    """:class:`~reconciler.state.StateStore` on one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        busy_timeout: float = BUSY_TIMEOUT,
        poll: float = 0.25,
    ) -> None:
        self.path = path
        self.clock = clock
        self.sleep = sleep
        self.busy_timeout = busy_timeout
        self.poll = poll
        with self._translated():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                _add_columns(conn)
            finally:
                conn.close()

    @classmethod
    def in_state_dir(cls, state_dir: Path, *, clock: Clock = time.time, sleep: Sleep = time.sleep) -> SqliteStateStore:
        """The store of a state dir: ``<state_dir>/state.db``."""
        return cls(state_dir / FILENAME, clock=clock, sleep=sleep)

    # ---------------------------------------------------------------- plumbing

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        resource = f"state store {self.path}"
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if "locked" in text or "busy" in text:
                raise TemporaryError(resource, f"SQLite is busy ({text}); try again", endpoint=str(self.path)) from None
            raise PermanentError(resource, f"SQLite failed: {text}", endpoint=str(self.path)) from None
        except (sqlite3.Error, OSError) as e:
            raise PermanentError(resource, f"{type(e).__name__}: {e}", endpoint=str(self.path)) from None

    @contextlib.contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection: committed when the block ends, rolled back if it raises."""
        with self._translated():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    @staticmethod
    def _current(conn: sqlite3.Connection, environment: str) -> tuple[int, Lease | None]:
        """(the environment's last token, its lease whether expired or not)."""
        row = conn.execute(f"SELECT {LEASE_COLUMNS} FROM environments WHERE environment = ?", (environment,)).fetchone()
        return (int(row[0]) if row else 0), _lease(environment, row)

    def _check_fence(self, conn: sqlite3.Connection, lease: Lease, what: str) -> None:
        _, current = self._current(conn, lease.environment)
        if current is None or current.token != lease.token or current.expired(self.clock()):
            raise Fenced(lease, current, what)

    # ---------------------------------------------------------------- lease

    def try_acquire(self, environment: str, owner: LeaseOwner, ttl: float, *, replacing: int | None = None) -> Lease:
        with self._tx() as conn:  # BEGIN IMMEDIATE: the check and the grant are one atomic step
            last, current = self._current(conn, environment)
            now = self.clock()
            if current is not None and not current.expired(now) and current.token != replacing:
                raise LeaseHeld(current)
            lease = Lease(environment, owner, last + 1, now + ttl, ttl, now)
            conn.execute(
                "INSERT INTO environments (environment, token, host, pid, command, started, expires_at, ttl,"
                " acquired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment) DO UPDATE SET"
                " token = excluded.token, host = excluded.host, pid = excluded.pid, command = excluded.command,"
                " started = excluded.started, expires_at = excluded.expires_at, ttl = excluded.ttl,"
                " acquired_at = excluded.acquired_at",
                (environment, lease.token, owner.host, owner.pid, owner.command, owner.started, lease.expires_at,
                 ttl, now),
            )  # fmt: skip
            return lease

    def renew(self, lease: Lease) -> Lease:
        with self._tx() as conn:
            _, current = self._current(conn, lease.environment)
            if current is None or current.token != lease.token:
                raise LeaseLost(lease, current, "renew")
            renewed = replace(current, expires_at=self.clock() + lease.ttl)
            conn.execute(
                "UPDATE environments SET expires_at = ? WHERE environment = ? AND token = ?",
                (renewed.expires_at, lease.environment, lease.token),
            )
            return renewed

    def release(self, lease: Lease) -> bool:
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE environments SET host = NULL, pid = NULL, command = NULL, started = NULL, expires_at = 0"
                " WHERE environment = ? AND token = ? AND host IS NOT NULL",
                (lease.environment, lease.token),
            )
            return cursor.rowcount == 1

    def holder(self, environment: str) -> Lease | None:
        with self._tx(write=False) as conn:
            _, current = self._current(conn, environment)
        return current if current is not None and not current.expired(self.clock()) else None

    # ---------------------------------------------------------------- status and history

    def read_status(self, environment: str) -> EnvironmentStatus:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT status, suspended, pin FROM environments WHERE environment = ?", (environment,)
            ).fetchone()
        if row is None:
            return EnvironmentStatus(environment)
        return codec.status_from_json(row[0], environment, suspended=bool(row[1]), pin=row[2])

    def write_status(self, lease: Lease, status: EnvironmentStatus) -> None:
        if status.environment != lease.environment:
            raise ValueError(f"status of {status.environment} written under a lease on {lease.environment}")
        with self._tx() as conn:
            self._check_fence(conn, lease, "status write")
            conn.execute(
                "UPDATE environments SET status = ? WHERE environment = ?",
                (codec.status_to_json(status), lease.environment),
            )

    def append_history(self, lease: Lease, entry: HistoryEntry) -> HistoryEntry:
        if entry.environment != lease.environment:
            raise ValueError(f"history of {entry.environment} written under a lease on {lease.environment}")
        stamped = replace(entry, token=lease.token)
        with self._tx() as conn:
            self._check_fence(conn, lease, "history write")
            conn.execute(
                "INSERT INTO history (environment, token, entry) VALUES (?, ?, ?)",
                (lease.environment, lease.token, codec.entry_to_json(stamped)),
            )
        return stamped

    def history(self, environment: str, limit: int = 20) -> list[HistoryEntry]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT entry FROM history WHERE environment = ? ORDER BY seq DESC LIMIT ?", (environment, limit)
            ).fetchall()
        return [codec.entry_from_json(str(r[0])) for r in rows]

    # ---------------------------------------------------------------- admin writes (no lease)

    def set_suspended(self, environment: str, suspended: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO environments (environment, suspended) VALUES (?, ?)"
                " ON CONFLICT (environment) DO UPDATE SET suspended = excluded.suspended",
                (environment, int(suspended)),
            )

    def set_pin(self, environment: str, sha: str | None) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO environments (environment, pin) VALUES (?, ?)"
                " ON CONFLICT (environment) DO UPDATE SET pin = excluded.pin",
                (environment, sha),
            )

    # ---------------------------------------------------------------- jobs (no lease: a record of what ran)

    def jobs_done(self, environment: str) -> frozenset[JobKey]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT stack, job, hash FROM jobs WHERE environment = ?", (environment,)).fetchall()
        return frozenset((str(r[0]), str(r[1]), str(r[2])) for r in rows)

    def record_job(self, environment: str, record: JobRecord) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO jobs (environment, stack, job, hash, host, finished_at, seconds, output)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (environment, record.stack, record.job, record.hash, record.host, record.finished_at, record.seconds,
                 record.output),
            )  # fmt: skip

    def job_records(self, environment: str) -> list[JobRecord]:
        """Every job that succeeded in ``environment``, newest first."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT stack, job, hash, host, finished_at, seconds, output FROM jobs WHERE environment = ?"
                " ORDER BY finished_at DESC",
                (environment,),
            ).fetchall()
        return [
            JobRecord(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4]), float(r[5]), str(r[6])) for r in rows
        ]
