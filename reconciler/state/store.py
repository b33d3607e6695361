"""The state store interface, implemented by SQLite and DynamoDB. Pure (a Protocol).

A backend implements a single attempt at a grant, ``try_acquire``; waiting for
a holder is :func:`~reconciler.state.lease.acquire`, the same for every backend.

Guarantees every implementation keeps (``tests/state`` is their shared contract):

* **Exclusive lease with fencing.** At most one unexpired lease per
  environment. Every grant carries a token strictly greater than any granted
  before for that environment (across release, expiry and takeover too).
* **Takeover of a holder that is gone.** ``try_acquire(..., replacing=T)`` grants
  also while the current lease, expired or not, has token ``T`` (its holder was
  judged gone: :func:`~reconciler.state.lease.acquire`), with a new, greater
  token, in one conditional write on ``T``: of several actors replacing the same
  holder exactly one wins, the others are refused naming the winner.
* **Fenced writes.** ``write_status`` and ``append_history`` succeed only while
  ``lease.token`` is the environment's current token, the lease is not released
  and, by the store's clock, not expired; otherwise they raise
  :class:`~reconciler.state.lease.Fenced` and write nothing.
* **Owner-checked release.** ``release`` of a lease that is no longer current
  returns ``False`` and changes nothing; it never frees someone else's lease.
* **Renew** extends a lease whose token is still current, even one past its
  expiry that nobody took; after a takeover or a release it raises LeaseLost.
* **Admin writes need no lease.** ``set_suspended`` and ``set_pin`` are single
  atomic writes of their own fields: they work while a loop holds the lease and
  never clobber the loop's status (``write_status`` ignores the ``suspended``
  and ``pin`` of the status it is given; ``read_status`` fills them in).
* **Jobs** that succeeded are recorded without a lease, keyed by environment, stack, job and
  hash; ``jobs_done`` gives the keys back, ``job_records`` the records.
* Expiry is judged by the clock of whoever asks: a TTL must exceed clock skew.
* Secrets: the store saves what it is given; messages must already be redacted.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.core.jobs import JobKey, JobRecord
from reconciler.state.lease import Lease, LeaseGrantor
from reconciler.state.status import EnvironmentStatus, HistoryEntry


class StateStore(LeaseGrantor, Protocol):
    """Lease, status and history of environments; see the module docstring for the guarantees.
    ``try_acquire``, ``clock``, ``sleep`` and ``poll``: :class:`~reconciler.state.lease.LeaseGrantor`."""

    def renew(self, lease: Lease) -> Lease:
        """Heartbeat: extend by ``lease.ttl`` from now, same token; :class:`LeaseLost` when the token
        is no longer current (taken over, or released)."""
        ...

    def release(self, lease: Lease) -> bool:
        """Free the lease if it is still current; ``False`` (and nothing changed) when it is not."""
        ...

    def holder(self, environment: str) -> Lease | None:
        """The unexpired current lease, or None."""
        ...

    def read_status(self, environment: str) -> EnvironmentStatus:
        """The last status written (empty when none), with the admin fields ``suspended`` and ``pin``."""
        ...

    def write_status(self, lease: Lease, status: EnvironmentStatus) -> None:
        """Replace the status (all but ``suspended``/``pin``); :class:`Fenced` unless ``lease`` is current."""
        ...

    def append_history(self, lease: Lease, entry: HistoryEntry) -> HistoryEntry:
        """Record ``entry`` stamped with ``lease.token``; :class:`Fenced` unless ``lease`` is current."""
        ...

    def history(self, environment: str, limit: int = 20) -> list[HistoryEntry]:
        """The last ``limit`` entries, newest first."""
        ...

    def set_suspended(self, environment: str, suspended: bool) -> None:
        """Admin write, no lease needed; leaves the status and the lease alone."""
        ...

    def set_pin(self, environment: str, sha: str | None) -> None:
        """Admin write (``None`` unpins), no lease needed; leaves the status and the lease alone."""
        ...

    def jobs_done(self, environment: str) -> frozenset[JobKey]:
        """(stack, job, hash) of every job of ``environment`` that succeeded."""
        ...

    def record_job(self, environment: str, record: JobRecord) -> None:
        """Record a job that exited 0, no lease needed (a record of what ran; the same key again
        replaces it)."""
        ...

    def job_records(self, environment: str) -> list[JobRecord]:
        """Every job of ``environment`` that succeeded, newest first."""
        ...
