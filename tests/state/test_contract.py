"""The state store contract, run on every backend (SQLite in a tmp dir, DynamoDB on moto).

Each test drives real stores (no mocks) with a fake clock, so leases expire
without sleeping; a "second process" is a second store on the same storage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.jobs import JobRecord
from reconciler.drivers.state import holder_gone, this_process
from reconciler.state import (
    Condition,
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    Fenced,
    HistoryEntry,
    Lease,
    LeaseHeld,
    LeaseLost,
    LeaseOwner,
    Result,
    Revision,
    Trigger,
    acquire,
    iso,
)
from state.kit import Backend, FakeClock, gone_owner, restarted

LOOP = LeaseOwner("machine-a", 4242, "reconciler run environments/dev")
APPLY = LeaseOwner("machine-b", 777, "reconciler apply environments/dev")
TTL = 30.0
REV = Revision("a" * 40, "Alice <alice@example.com>", "Bump backend to 2.2.0", 1_699_999_000.5)
REV2 = Revision("b" * 40, "Bob <bob@example.com>", "Promote frontend", 1_699_999_500.25)

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


def entry(env: str, n: int, result: Result = Result.APPLIED) -> HistoryEntry:
    return HistoryEntry(
        environment=env, revision=REV, started_at=1000.0 + n, finished_at=1001.5 + n, trigger=Trigger.POLL,
        actor="loop@machine-a", result=result, actions={"update": n, "create": 1},
        reason=f"tick {n}: image tag changed",
    )  # fmt: skip


# ---------------------------------------------------------------- grant, refuse, wait


def test_a_second_actor_is_refused_naming_the_holder(backend: Backend, clock: FakeClock, env: str) -> None:
    loop, apply = backend.store(clock), backend.store(clock)
    lease = acquire(loop, env, LOOP, TTL)
    assert (lease.environment, lease.owner, lease.ttl) == (env, LOOP, TTL)
    assert lease.expires_at == clock.now + TTL and lease.token >= 1
    with pytest.raises(LeaseHeld) as info:
        acquire(apply, env, APPLY, TTL)
    assert info.value.holder == lease
    message = str(info.value)
    for part in ("machine-a", "pid 4242", "reconciler run environments/dev", iso(lease.expires_at), env):
        assert part in message
    assert apply.holder(env) == lease
    assert acquire(loop, f"{env}-other", APPLY, TTL).owner == APPLY  # other environments are not blocked


def test_waiting_gives_up_after_the_timeout_naming_the_holder(backend: Backend, clock: FakeClock, env: str) -> None:
    lease = acquire(backend.store(clock), env, LOOP, TTL)
    told: list[Lease] = []
    start = clock.now
    with pytest.raises(LeaseHeld) as info:
        acquire(backend.store(clock), env, APPLY, TTL, wait=5.0, on_wait=told.append)
    assert told == [lease]  # told once, whoever it waits for
    assert 5.0 <= clock.now - start < 5.5 and clock.slept  # it waited on the injected clock
    assert info.value.holder == lease and "after waiting 5s" in str(info.value)


def test_a_waiter_gets_the_lease_when_the_holder_expires(backend: Backend, clock: FakeClock, env: str) -> None:
    first = acquire(backend.store(clock), env, LOOP, 10.0)
    second = acquire(backend.store(clock), env, APPLY, TTL, wait=60.0)
    assert second.owner == APPLY and second.token > first.token
    assert first.expires_at <= clock.now < first.expires_at + 1


def test_a_waiter_gets_the_lease_when_the_holder_releases(backend: Backend, clock: FakeClock, env: str) -> None:
    holder = backend.store(clock)
    first = acquire(holder, env, LOOP, TTL)

    def sleep(seconds: float) -> None:  # the holder finishes while the waiter sleeps
        holder.release(first)
        clock.sleep(seconds)

    waiter = backend.open(clock, sleep)
    second = acquire(waiter, env, APPLY, TTL, wait=60.0)
    assert second.token == first.token + 1 and clock.now < first.expires_at


# ---------------------------------------------------------------- a holder of this machine that is gone


def test_a_holder_whose_process_is_gone_is_taken_over_at_once(backend: Backend, clock: FakeClock, env: str) -> None:
    """kill -9 of an apply: its lease is taken over without waiting for the TTL, with a greater token,
    and the taker is told whose lease it was; the dead holder's lease is fenced."""
    dead = gone_owner("reconciler apply environments/dev")
    old = acquire(backend.store(clock), env, dead, TTL)
    assert backend.store(clock).holder(env) == old  # the start time is stored with the owner
    me, told = this_process("reconciler apply environments/dev"), []
    new = acquire(backend.store(clock), env, me, TTL, gone=holder_gone, on_takeover=told.append)
    assert new.owner == me and new.token > old.token and told == [old]
    assert clock.slept == [] and new.expires_at == clock.now + TTL  # at once
    store = backend.store(clock)
    assert store.holder(env) == new
    with pytest.raises(LeaseLost):
        store.renew(old)
    with pytest.raises(Fenced):
        store.write_status(old, EnvironmentStatus(env, last_error="from the dead"))
    assert store.release(old) is False and store.holder(env) == new


def test_a_live_pid_that_started_at_another_time_is_gone(backend: Backend, clock: FakeClock, env: str) -> None:
    """The holder's PID now belongs to another process (this one): the PID was reused, the holder is gone."""
    reused = restarted(this_process("reconciler run environments/dev"))
    old = acquire(backend.store(clock), env, reused, TTL)
    told: list[Lease] = []
    new = acquire(backend.store(clock), env, APPLY, TTL, gone=holder_gone, on_takeover=told.append)
    assert new.token == old.token + 1 and told == [old]


def test_a_live_holder_and_holders_it_cannot_judge_wait_for_their_ttl(
    backend: Backend, clock: FakeClock, env: str
) -> None:
    dead = gone_owner("reconciler apply environments/dev")
    for n, holder in enumerate((
        this_process("reconciler run environments/dev"),  # alive: this very process
        replace(dead, host="machine-elsewhere"),  # another machine: its PIDs mean nothing here
        replace(dead, started=None),  # written by code that did not record the start time
    )):  # fmt: skip
        name = f"{env}-{n}"
        old = acquire(backend.store(clock), name, holder, TTL)
        told: list[Lease] = []
        with pytest.raises(LeaseHeld) as info:
            acquire(backend.store(clock), name, APPLY, TTL, gone=holder_gone, on_takeover=told.append)
        assert info.value.holder == old and told == []
    clock.advance(TTL)
    assert acquire(backend.store(clock), name, APPLY, TTL, gone=holder_gone).token == old.token + 1


def test_of_two_actors_replacing_a_gone_holder_exactly_one_wins(backend: Backend, clock: FakeClock, env: str) -> None:
    """The takeover is a write conditioned on the gone holder's token: the second is refused."""
    old = acquire(backend.store(clock), env, gone_owner("reconciler apply environments/dev"), TTL)
    first, second = backend.store(clock), backend.store(clock)
    won = first.try_acquire(env, LOOP, TTL, replacing=old.token)
    with pytest.raises(LeaseHeld) as info:
        second.try_acquire(env, APPLY, TTL, replacing=old.token)
    assert won.token == old.token + 1 and info.value.holder == won
    assert second.holder(env) == won and first.renew(won).token == won.token


# ---------------------------------------------------------------- tokens


def test_the_token_increases_on_every_grant(backend: Backend, clock: FakeClock, env: str) -> None:
    a, b = backend.store(clock), backend.store(clock)
    tokens = []
    lease = acquire(a, env, LOOP, TTL)  # granted fresh
    tokens.append(lease.token)
    assert a.release(lease)
    lease = acquire(b, env, APPLY, TTL)  # after a release
    tokens.append(lease.token)
    clock.advance(TTL)
    lease = acquire(a, env, LOOP, TTL)  # takeover after expiry
    tokens.append(lease.token)
    clock.advance(TTL + 100)
    lease = acquire(a, env, LOOP, TTL)  # the same owner again, after its own lease expired
    tokens.append(lease.token)
    assert a.release(lease)
    a.set_suspended(env, True)  # admin writes do not reset it
    a.set_pin(env, None)
    tokens.append(acquire(b, env, APPLY, TTL).token)
    assert tokens == sorted(set(tokens)) and len(tokens) == 5
    assert tokens[0] >= 1


def test_renew_extends_the_lease_with_the_same_token(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    clock.advance(TTL - 1)
    renewed = store.renew(lease)
    assert renewed.token == lease.token and renewed.expires_at == clock.now + TTL and renewed.owner == LOOP
    clock.advance(TTL - 1)  # past the first expiry, not the renewed one
    with pytest.raises(LeaseHeld):
        acquire(backend.store(clock), env, APPLY, TTL)
    assert store.holder(env) == renewed


def test_renew_of_an_expired_lease_nobody_took_succeeds(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    clock.advance(TTL + 5)
    assert store.holder(env) is None
    renewed = store.renew(lease)
    assert renewed.token == lease.token and store.holder(env) == renewed


def test_renew_after_a_takeover_fails_naming_the_new_holder(backend: Backend, clock: FakeClock, env: str) -> None:
    paused = backend.store(clock)
    lease = acquire(paused, env, LOOP, TTL)
    clock.advance(TTL + 1)  # the holder was paused (GC, SIGSTOP, a slow disk) past its expiry
    taker = acquire(backend.store(clock), env, APPLY, TTL)
    with pytest.raises(LeaseLost) as info:
        paused.renew(lease)
    assert info.value.current == taker and "machine-b" in str(info.value) and str(taker.token) in str(info.value)
    assert paused.holder(env) == taker


def test_renew_after_release_fails(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    assert store.release(lease)
    with pytest.raises(LeaseLost):
        store.renew(lease)
    assert store.holder(env) is None


# ---------------------------------------------------------------- release


def test_release_is_owner_checked(backend: Backend, clock: FakeClock, env: str) -> None:
    old_holder, new_holder = backend.store(clock), backend.store(clock)
    old = acquire(old_holder, env, LOOP, TTL)
    clock.advance(TTL + 1)
    new = acquire(new_holder, env, APPLY, TTL)
    assert old_holder.release(old) is False  # never frees someone else's lease
    assert new_holder.holder(env) == new
    assert new_holder.release(new) is True
    assert new_holder.holder(env) is None
    assert new_holder.release(new) is False  # twice: nothing left to release
    assert acquire(old_holder, env, LOOP, TTL).token == new.token + 1


def test_release_of_a_never_granted_environment_is_a_no_op(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    assert store.release(Lease(env, LOOP, 1, clock.now + TTL, TTL)) is False
    assert store.holder(env) is None


# ---------------------------------------------------------------- fencing


def test_a_stale_holder_cannot_write_after_a_takeover(backend: Backend, clock: FakeClock, env: str) -> None:
    paused, taker = backend.store(clock), backend.store(clock)
    old = acquire(paused, env, LOOP, TTL)
    paused.write_status(old, EnvironmentStatus(env, last_error="written while holding"))
    paused.append_history(old, entry(env, 1))
    clock.advance(TTL + 1)
    new = acquire(taker, env, APPLY, TTL)
    with pytest.raises(Fenced) as info:
        paused.write_status(old, EnvironmentStatus(env, last_error="stale write"))
    assert info.value.current == new and "status write" in str(info.value)
    with pytest.raises(Fenced):
        paused.append_history(old, entry(env, 2))
    assert taker.read_status(env).last_error == "written while holding"
    assert [h.reason for h in taker.history(env)] == ["tick 1: image tag changed"]
    taker.write_status(new, EnvironmentStatus(env, last_error="the new holder writes"))
    assert taker.read_status(env).last_error == "the new holder writes"


def test_writes_are_refused_once_the_lease_expired_or_was_released(
    backend: Backend, clock: FakeClock, env: str
) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    clock.advance(TTL)  # expired, nobody took it yet: still no writes without a renew
    with pytest.raises(Fenced) as info:
        store.write_status(lease, EnvironmentStatus(env, last_error="late"))
    assert "expired" in str(info.value)
    with pytest.raises(Fenced):
        store.append_history(lease, entry(env, 1))
    lease = store.renew(lease)
    store.write_status(lease, EnvironmentStatus(env, last_error="after the renew"))
    assert store.release(lease)
    with pytest.raises(Fenced):
        store.write_status(lease, EnvironmentStatus(env, last_error="after the release"))
    with pytest.raises(Fenced):
        store.append_history(lease, entry(env, 2))
    assert store.read_status(env).last_error == "after the renew"
    assert store.history(env) == []


def test_a_forged_token_is_refused(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    for token in (lease.token - 1, lease.token + 1):
        with pytest.raises(Fenced):
            store.write_status(replace(lease, token=token), EnvironmentStatus(env, last_error="forged"))
    assert store.read_status(env).last_error is None


# ---------------------------------------------------------------- status


def full_status(env: str) -> EnvironmentStatus:
    return EnvironmentStatus(
        environment=env,
        conditions=(
            Condition(ConditionType.READY, F, "ApplyFailed", "service:default/popcon/backend: unhealthy", 1000.125),
            Condition(ConditionType.DEGRADED, T, "ApplyFailed", "1 of 4 stacks failed", 1000.125),
            Condition(ConditionType.OUT_OF_SYNC, ConditionStatus.UNKNOWN, "NotObserved", "", 999.0),
        ),
        last_applied=REV,
        last_attempted=REV2,
        last_error="image popcon/backend:9.9.9 not found (at http://127.0.0.1:5000)",
        failed_revisions=frozenset({REV2.sha, "c" * 40}),
        resources={
            "service:default/popcon/backend": (Condition(ConditionType.READY, F, "Unhealthy", "exit 1", 1000.5),),
            "parameter:/popcon/dev/DB_HOST": (Condition(ConditionType.READY, T, "InSync", "", 900.0),),
        },
        updated_at=1000.75,
    )


def test_status_round_trips(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    assert store.read_status(env) == EnvironmentStatus(env)  # nothing written yet
    lease = acquire(store, env, LOOP, TTL)
    status = full_status(env)
    store.write_status(lease, status)
    assert backend.store(clock).read_status(env) == status
    store.write_status(lease, EnvironmentStatus(env))  # a write replaces the whole status
    assert store.read_status(env) == EnvironmentStatus(env)


def test_last_transition_changes_only_when_the_status_does(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    t1 = clock.now
    status = EnvironmentStatus(env).with_condition(ConditionType.READY, F, "Progressing", "applying", t1)
    store.write_status(lease, status)
    clock.advance(7.25)
    status = store.read_status(env).with_condition(ConditionType.READY, F, "ApplyFailed", "tag missing", clock.now)
    store.write_status(lease, status)
    ready = store.read_status(env).condition(ConditionType.READY)
    assert ready is not None
    assert (ready.reason, ready.message, ready.last_transition) == ("ApplyFailed", "tag missing", t1)
    clock.advance(3.5)
    t3 = clock.now
    status = store.read_status(env).with_condition(ConditionType.READY, T, "Applied", "in sync", t3)
    status = status.with_resource_condition("service:default/popcon/backend", ConditionType.READY, T, "Up", "", t3)
    store.write_status(lease, status)
    read = store.read_status(env)
    assert read.condition(ConditionType.READY) == Condition(ConditionType.READY, T, "Applied", "in sync", t3)
    assert read.resources["service:default/popcon/backend"][0].last_transition == t3


# ---------------------------------------------------------------- history


def test_history_is_newest_first_stamped_and_limited(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    first = acquire(store, env, LOOP, TTL)
    for n in range(3):
        stamped = store.append_history(first, replace(entry(env, n), token=0))
        assert stamped.token == first.token
    store.release(first)
    second = acquire(store, env, APPLY, TTL)
    store.append_history(second, entry(env, 3, Result.FAILED))
    store.append_history(second, replace(entry(env, 4, Result.NO_CHANGE), revision=None, error="x", reason=""))
    everything = backend.store(clock).history(env, limit=100)
    assert [h.started_at for h in everything] == [1004.0, 1003.0, 1002.0, 1001.0, 1000.0]
    assert [h.token for h in everything] == [second.token] * 2 + [first.token] * 3
    assert everything[-1] == replace(entry(env, 0), token=first.token)  # round trip, field by field
    assert everything[0].revision is None and everything[0].error == "x" and everything[0].duration == 1.5
    assert store.history(env, limit=2) == everything[:2]
    assert store.history(env, limit=0) == []
    assert store.history(f"{env}-other") == []


# ---------------------------------------------------------------- admin writes


def test_suspend_and_pin_need_no_lease_and_never_clobber_the_status(
    backend: Backend, clock: FakeClock, env: str
) -> None:
    loop, admin = backend.store(clock), backend.store(clock)
    lease = acquire(loop, env, LOOP, TTL)
    loop.write_status(lease, full_status(env))
    admin.set_suspended(env, True)  # while the loop holds the lease
    admin.set_pin(env, REV.sha)
    read = loop.read_status(env)
    assert read == replace(full_status(env), suspended=True, pin=REV.sha)
    assert loop.holder(env) == lease  # the lease is untouched
    loop.write_status(lease, replace(full_status(env), suspended=False, pin=None, last_error="next tick"))
    read = admin.read_status(env)
    assert (read.suspended, read.pin, read.last_error) == (True, REV.sha, "next tick")  # the loop cannot undo them
    loop.append_history(lease, entry(env, 1))
    admin.set_suspended(env, False)
    admin.set_pin(env, None)
    read = loop.read_status(env)
    assert (read.suspended, read.pin, read.last_error) == (False, None, "next tick")
    assert len(loop.history(env)) == 1 and loop.renew(lease).token == lease.token


def test_admin_writes_on_a_new_environment(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    store.set_pin(env, REV2.sha)
    assert store.read_status(env) == EnvironmentStatus(env, pin=REV2.sha)
    assert store.holder(env) is None
    assert acquire(store, env, LOOP, TTL).token >= 1


def test_jobs_are_recorded_without_a_lease_per_environment_and_replaced_by_key(
    backend: Backend, clock: FakeClock, env: str
) -> None:
    store, other = backend.store(clock), backend.store(clock)
    assert store.jobs_done(env) == frozenset()
    lease = acquire(store, env, LOOP, TTL)  # held by someone else: a job record needs no lease
    first = JobRecord("popcon", "migrate", "a" * 64, "web-1", 1000.0, 1.5, "applied 3 migrations")
    other.record_job(env, first)
    other.record_job(env, JobRecord("popcon", "migrate", "b" * 64, "web-2", 1010.0, 0.5, ""))
    other.record_job(env, replace(first, finished_at=1020.0, output="nothing to migrate"))  # the same key again
    other.record_job(f"{env}-other", JobRecord("popcon", "seed", "c" * 64, "web-1", 1030.0))
    assert store.jobs_done(env) == {("popcon", "migrate", "a" * 64), ("popcon", "migrate", "b" * 64)}
    records = store.job_records(env)
    assert [(r.hash[0], r.finished_at, r.output) for r in records] == [("a", 1020.0, "nothing to migrate"),
                                                                       ("b", 1010.0, "")]  # fmt: skip
    assert store.jobs_done(f"{env}-other") == {("popcon", "seed", "c" * 64)}
    assert store.holder(env) == lease


def test_writes_name_the_leased_environment(backend: Backend, clock: FakeClock, env: str) -> None:
    store = backend.store(clock)
    lease = acquire(store, env, LOOP, TTL)
    with pytest.raises(ValueError):
        store.write_status(lease, EnvironmentStatus(f"{env}-other"))
    with pytest.raises(ValueError):
        store.append_history(lease, entry(f"{env}-other", 1))


# ---------------------------------------------------------------- contention


def contend(
    backend: Backend, env: str, owner: Callable[[int], LeaseOwner], n: int = 6, **options: Any
) -> tuple[list[Lease], list[LeaseHeld]]:
    """``n`` threads, a store each (real clock), call ``acquire`` at once: (the leases won, the refusals)."""
    stores = [backend.store() for _ in range(n)]
    barrier = threading.Barrier(n)
    won: list[Lease] = []
    refused: list[LeaseHeld] = []

    def one(i: int) -> None:
        barrier.wait()
        try:
            won.append(acquire(stores[i], env, owner(i), TTL, **options))
        except LeaseHeld as e:
            refused.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return won, refused


def test_exactly_one_of_many_concurrent_acquirers_wins(backend: Backend, env: str) -> None:
    if backend.name == "dynamodb":
        # DynamoDB serializes conditional writes to one item; moto's server (5.2.5) answers each
        # request in its own thread without doing so: two concurrent conditional UpdateItems both
        # succeed there (seen: two winners with token 1). Nothing a client can do about it.
        pytest.skip("moto does not serialize concurrent conditional writes to one item")
    won, refused = contend(backend, env, lambda i: LeaseOwner("machine", i, f"contender {i}"))
    assert len(won) == 1 and len(refused) == 5
    assert all(e.holder == won[0] for e in refused)


def test_exactly_one_of_many_concurrent_takers_of_a_gone_holder_wins(backend: Backend, env: str) -> None:
    if backend.name == "dynamodb":
        pytest.skip("moto does not serialize concurrent conditional writes to one item (see above)")
    old = acquire(backend.store(), env, gone_owner("reconciler apply environments/dev"), TTL)
    told: list[Lease] = []

    def owner(i: int) -> LeaseOwner:  # a start time recorded for another PID: never judged gone
        return replace(this_process(f"contender {i}"), pid=10_000_000 + i)

    won, refused = contend(backend, env, owner, gone=holder_gone, on_takeover=told.append)
    assert len(won) == 1 and len(refused) == 5 and told == [old]
    assert won[0].token == old.token + 1 and all(e.holder == won[0] for e in refused)
