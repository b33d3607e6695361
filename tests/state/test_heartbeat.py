"""Holding a lease for a whole run: the heartbeat renews it, notices its loss, and it is released
at the end. On both backends, on the real clock with short TTLs."""

from __future__ import annotations

import time

import pytest

from reconciler.drivers.state.heartbeat import holding
from reconciler.state import EnvironmentStatus, LeaseHeld, LeaseLost, LeaseOwner, acquire
from state.kit import Backend

LOOP = LeaseOwner("machine-a", 1, "reconciler run")
OTHER = LeaseOwner("machine-b", 2, "reconciler apply")


def test_the_heartbeat_keeps_the_lease_past_its_ttl(backend: Backend, env: str) -> None:
    store, other = backend.store(), backend.store()
    with holding(store, env, LOOP, 1.5, interval=0.1) as beat:
        first = beat.check()
        time.sleep(2.5)  # well past the TTL
        with pytest.raises(LeaseHeld):
            acquire(other, env, OTHER, 5.0)
        lease = beat.check()
        assert lease.token == first.token and lease.expires_at > first.expires_at and beat.renewals >= 5
        store.write_status(lease, EnvironmentStatus(env, last_error="still ours"))
    assert other.holder(env) is None  # released at the end
    assert other.read_status(env).last_error == "still ours"


def test_a_lost_lease_stops_the_heartbeat_and_is_reported(backend: Backend, env: str) -> None:
    store, other = backend.store(), backend.store()
    told: list[LeaseLost] = []
    with holding(store, env, LOOP, 5.0, interval=0.05, on_lost=told.append) as beat:
        lease = beat.check()
        assert other.release(lease)  # as if it had expired while paused ...
        taker = acquire(other, env, OTHER, 30.0)  # ... and someone else took it
        deadline = time.monotonic() + 5
        while beat.lost is None and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(LeaseLost) as info:
            beat.check()
        assert told == [info.value]
        assert info.value.current in (taker, None)  # a beat may fall between the release and the takeover
    assert other.holder(env) == taker  # leaving the block did not release someone else's lease


def test_the_lease_is_released_when_the_run_fails(backend: Backend, env: str) -> None:
    store = backend.store()
    with pytest.raises(RuntimeError), holding(store, env, LOOP, 30.0):
        raise RuntimeError("the tick failed")
    assert store.holder(env) is None
