"""Holding a lease for as long as a run lasts: acquire, renew from a thread, release. Does I/O (a thread).

:func:`holding` acquires an environment's lease (waiting or refusing as
:func:`~reconciler.state.lease.acquire` does, taking over at once the lease of
a holder of this machine that is gone), starts a
:class:`Heartbeat` that renews it every ``ttl / 3`` seconds, and releases it
when the block ends, however it ends (a release of a lease lost meanwhile
changes nothing). The holder asks :meth:`Heartbeat.check` before each write
or step: it returns the current (renewed) lease, or raises the
:class:`~reconciler.state.LeaseLost` that stopped the heartbeat. A renew that
fails for a temporary reason (the store unreachable for a moment) is tried
again at the next beat; fencing keeps writes safe meanwhile, since the store
refuses them once the lease has expired. One renew per beat is the only
store call the heartbeat makes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from reconciler.core.errors import WorldError
from reconciler.drivers.state import holder_gone
from reconciler.state.lease import Lease, LeaseLost, LeaseOwner, acquire
from reconciler.state.store import StateStore


class Heartbeat:
    """Renews ``lease`` in a daemon thread every ``interval`` seconds until stopped or lost."""

    def __init__(
        self,
        store: StateStore,
        lease: Lease,
        *,
        interval: float | None = None,
        on_lost: Callable[[LeaseLost], None] | None = None,
        on_error: Callable[[WorldError], None] | None = None,
    ) -> None:
        self.store = store
        self.interval = interval if interval is not None else max(lease.ttl / 3, 0.01)
        self.on_lost = on_lost
        self.on_error = on_error
        self.renewals = 0
        self.last_error: WorldError | None = None
        self._lease = lease
        self._lost: LeaseLost | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{lease.environment}", daemon=True)

    @property
    def lease(self) -> Lease:
        with self._lock:
            return self._lease

    @property
    def lost(self) -> LeaseLost | None:
        with self._lock:
            return self._lost

    def check(self) -> Lease:
        """The current lease; raises the LeaseLost that ended the heartbeat, if any."""
        with self._lock:
            if self._lost is not None:
                raise self._lost
            return self._lease

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> Lease:
        """Stop renewing (waits for a renew in flight); returns the last lease."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.lease

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                renewed = self.store.renew(self.lease)
            except LeaseLost as lost:
                with self._lock:
                    self._lost = lost
                if self.on_lost is not None:
                    self.on_lost(lost)
                return
            except WorldError as error:  # unreachable, busy, throttled: try again at the next beat
                self.last_error = error
                if self.on_error is not None:
                    self.on_error(error)
                continue
            with self._lock:
                self._lease = renewed
                self.renewals += 1


@contextlib.contextmanager
def holding(
    store: StateStore,
    environment: str,
    owner: LeaseOwner,
    ttl: float,
    *,
    wait: float = 0.0,
    on_wait: Callable[[Lease], None] | None = None,
    on_lost: Callable[[LeaseLost], None] | None = None,
    interval: float | None = None,
    gone: Callable[[LeaseOwner], bool] = holder_gone,
    on_takeover: Callable[[Lease], None] | None = None,
) -> Iterator[Heartbeat]:
    """Hold ``environment``'s lease while the block runs, renewed by a :class:`Heartbeat`. A holder
    of this machine that is ``gone`` is taken over at once (``on_takeover`` is told its lease)."""
    lease = acquire(store, environment, owner, ttl, wait=wait, on_wait=on_wait, gone=gone, on_takeover=on_takeover)
    beat = Heartbeat(store, lease, interval=interval, on_lost=on_lost).start()
    try:
        yield beat
    finally:
        last = beat.stop()
        with contextlib.suppress(WorldError):  # unreachable now: the lease simply expires
            store.release(last)
