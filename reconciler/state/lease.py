"""Leases: an exclusive, expiring grant on an environment, fenced by a token. Pure.

A :class:`Lease` is granted to a :class:`LeaseOwner` (host, PID, command) until
``expires_at``; the holder renews it with heartbeats. Every grant carries a
fencing ``token`` strictly greater than any granted before for that
environment, so a paused holder that lost its lease is recognised by its stale
token and its writes are refused (:class:`Fenced`). Times are epoch seconds
from an injected clock. :func:`acquire` is the one wait-or-refuse loop: every
store (a :class:`LeaseGrantor`) gives a single attempt, ``try_acquire``; the
loop itself does no I/O. A holder that is *gone* (a process of this machine
that no longer exists, as the injected ``gone`` judges it from the owner's host,
PID and process start time) is replaced at once: a grant conditioned on its
token, so of two actors replacing it only one wins. Holders on other machines,
or whose start time is unknown, are waited out by their TTL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from reconciler.core.errors import ReconcilerError

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: How long a lease lasts without a heartbeat (seconds): renewed every third of it while held,
#: so a holder killed with -9 blocks the environment at most this long.
LEASE_TTL = 15.0


def iso(ts: float) -> str:
    """``ts`` (epoch seconds) as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds (or asks for) a lease: the machine, the process and what it runs."""

    host: str
    pid: int
    command: str  # e.g. "reconciler run environments/dev"
    # when and where the process started, as its machine tells it (Linux: boot id, PID namespace, PID
    # and start time in clock ticks, from /proc); with host and pid it tells a holder that is gone from
    # a live one, even when its PID was reused. None: unknown (another system, or a lease of old code)
    started: str | None = None

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid} on {self.host})"


@dataclass(frozen=True)
class Lease:
    """An exclusive grant on an environment until ``expires_at``, fenced by ``token``."""

    environment: str
    owner: LeaseOwner
    token: int  # strictly increasing per environment, never reused
    expires_at: float  # epoch seconds
    ttl: float  # seconds a renew extends it by
    acquired_at: float = 0.0

    def expired(self, now: float) -> bool:
        return self.expires_at <= now

    def describe(self) -> str:
        return f"{self.owner.describe()}, token {self.token}, until {iso(self.expires_at)}"


class LeaseHeld(ReconcilerError):
    """The environment is held by someone else (``holder``), also after waiting ``waited`` seconds."""

    def __init__(self, holder: Lease, waited: float = 0.0) -> None:
        self.holder = holder
        self.waited = waited
        after = f" after waiting {waited:g}s" if waited > 0 else ""
        super().__init__(
            f"environment {holder.environment} is held by {holder.describe()}{after}; "
            "try again later or wait with --lock-timeout"
        )


class LeaseLost(ReconcilerError):
    """``lease`` is no longer the environment's current lease (``current`` holds it, or nobody)."""

    def __init__(self, lease: Lease, current: Lease | None, what: str = "renew") -> None:
        self.lease = lease
        self.current = current
        if current is None:
            now = "it was released or expired"
        elif current.token == lease.token:
            now = f"it expired at {iso(current.expires_at)}"
        else:
            now = f"now held by {current.describe()}"
        super().__init__(
            f"{what} refused: the lease on environment {lease.environment} with token {lease.token} is lost ({now})"
        )


class Fenced(LeaseLost):
    """A status or history write with a stale, released or expired lease: refused, nothing written."""


def takeover_line(previous: Lease) -> str:
    """What an actor says when it replaced ``previous``, whose holder is gone."""
    return (
        f"took over the lease of environment {previous.environment} from {previous.owner.describe()}: "
        "that process is gone"
    )


class LeaseGrantor(Protocol):
    """What :func:`acquire` needs of a state store: one attempt at a grant, and the store's clock,
    sleep and poll interval to wait on."""

    clock: Clock
    sleep: Sleep
    poll: float  # seconds between attempts while waiting

    def try_acquire(self, environment: str, owner: LeaseOwner, ttl: float, *, replacing: int | None = None) -> Lease:
        """One attempt: a new lease (a new, greater token), or :class:`LeaseHeld` naming the holder.
        ``replacing``: the token of a holder judged gone; a lease with that token is granted over as
        an expired one is (one conditional write: while that token is still the current one)."""
        ...


def acquire(
    store: LeaseGrantor,
    environment: str,
    owner: LeaseOwner,
    ttl: float,
    *,
    wait: float = 0.0,
    on_wait: Callable[[Lease], None] | None = None,
    gone: Callable[[LeaseOwner], bool] | None = None,
    on_takeover: Callable[[Lease], None] | None = None,
) -> Lease:
    """A new lease on ``environment`` from ``store``, waiting up to ``wait`` seconds (on the store's
    clock, trying every ``store.poll`` seconds) for the holder; ``on_wait`` is told once who it is.
    Then the last :class:`LeaseHeld` is raised, saying how long it waited. A holder that ``gone``
    says no longer exists is replaced at once, and ``on_takeover`` is told its lease. Pure: all I/O
    is in ``store.try_acquire`` and ``gone``."""
    start = store.clock()
    told = False
    stale: Lease | None = None
    while True:
        try:
            lease = store.try_acquire(environment, owner, ttl, replacing=stale.token if stale else None)
        except LeaseHeld as held:
            if gone is not None and (stale is None or held.holder.token != stale.token) and gone(held.holder.owner):
                stale = held.holder  # try again at once, replacing it
                continue
            waited = store.clock() - start
            if waited >= wait:
                raise LeaseHeld(held.holder, waited if wait > 0 else 0.0) from None
            if not told and on_wait is not None:
                on_wait(held.holder)
            told = True
            store.sleep(max(0.0, min(store.poll, wait - waited)))
        else:
            if stale is not None and lease.token == stale.token + 1 and on_takeover is not None:
                on_takeover(stale)  # granted right after the gone holder's lease
            return lease
