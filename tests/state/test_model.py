"""The pure model: condition semantics, the JSON codec, lease messages and the wait loop."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    Reason,
    Result,
    Revision,
    Trigger,
    acquire,
    set_condition,
    takeover_line,
)
from reconciler.state.codec import entry_from_json, entry_to_json, status_from_json, status_to_json
from state.kit import FakeClock

OWNER = LeaseOwner("web-1", 99, "reconciler run environments/prod")
LEASE = Lease("prod", OWNER, 7, 1_700_000_030.0, 30.0, 1_700_000_000.0)
T, F, U = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN


def test_set_condition_keeps_the_transition_time_while_the_status_holds() -> None:
    conditions = set_condition((), ConditionType.READY, U, "Starting", "", 10.0)
    conditions = set_condition(conditions, ConditionType.DEGRADED, F, "Healthy", "", 11.0)
    conditions = set_condition(conditions, ConditionType.READY, U, "StillStarting", "observing", 12.0)
    assert conditions[0] == Condition(ConditionType.READY, U, "StillStarting", "observing", 10.0)
    conditions = set_condition(conditions, ConditionType.READY, T, "Applied", "", 13.0)
    assert [(c.type, c.last_transition) for c in conditions] == [
        (ConditionType.READY, 13.0),  # changed status: a new transition time, same place
        (ConditionType.DEGRADED, 11.0),
    ]


def test_a_reason_is_kept_and_stored_as_its_plain_value() -> None:
    status = EnvironmentStatus("dev").with_condition(ConditionType.READY, F, Reason.DRIFT_NOT_CORRECTED, "", 1.0)
    ready = status.condition(ConditionType.READY)
    assert ready is not None and type(ready.reason) is str and f"{ready.reason}" == "DriftNotCorrected"
    assert status_from_json(status_to_json(status), "dev") == status
    assert '"reason":"DriftNotCorrected"' in status_to_json(status)


finite = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
text = st.text(max_size=30)
conditions = st.lists(
    st.builds(Condition, st.sampled_from(ConditionType), st.sampled_from(ConditionStatus), text, text, finite),
    max_size=4,
).map(tuple)
revisions = st.none() | st.builds(Revision, st.text(min_size=1, max_size=40), text, text, finite)
statuses = st.builds(
    EnvironmentStatus,
    environment=st.text(min_size=1, max_size=20),
    conditions=conditions,
    last_applied=revisions,
    last_attempted=revisions,
    last_error=st.none() | text,
    failed_revisions=st.frozensets(st.text(min_size=1, max_size=10), max_size=3),
    resources=st.dictionaries(st.text(min_size=1, max_size=20), conditions, max_size=3),
    updated_at=st.none() | finite,
)
entries = st.builds(
    HistoryEntry,
    environment=st.text(min_size=1, max_size=20),
    revision=revisions,
    started_at=finite,
    finished_at=finite,
    trigger=st.sampled_from(Trigger),
    actor=text,
    result=st.sampled_from(Result),
    actions=st.dictionaries(st.text(min_size=1, max_size=10), st.integers(0, 10_000), max_size=4),
    reason=text,
    error=st.none() | text,
    token=st.integers(0, 2**53),
    jobs=st.dictionaries(st.text(min_size=1, max_size=20), text, max_size=2),
)


@given(statuses, st.booleans(), st.none() | st.text(min_size=1, max_size=40))
def test_a_status_survives_its_json_form(status: EnvironmentStatus, suspended: bool, pin: str | None) -> None:
    text = status_to_json(replace(status, suspended=not suspended, pin="ignored"))  # admin fields are not in it
    assert "ignored" not in text
    back = status_from_json(text, status.environment, suspended=suspended, pin=pin)
    assert back == replace(status, suspended=suspended, pin=pin)


@given(entries)
def test_a_history_entry_survives_its_json_form(entry: HistoryEntry) -> None:
    assert entry_from_json(entry_to_json(entry)) == entry


def test_nothing_written_is_an_empty_status() -> None:
    assert status_from_json(None, "dev", pin="abc") == EnvironmentStatus("dev", pin="abc")


def test_lease_errors_say_who_holds_it_and_until_when() -> None:
    held = str(LeaseHeld(LEASE, waited=300))
    assert held == (
        "environment prod is held by reconciler run environments/prod (pid 99 on web-1), token 7, "
        "until 2023-11-14T22:13:50+00:00 after waiting 300s; try again later or wait with --lock-timeout"
    )
    taker = replace(LEASE, owner=LeaseOwner("web-2", 5, "reconciler apply"), token=8)
    lost = str(LeaseLost(LEASE, taker))
    assert "renew refused" in lost and "token 7" in lost and "now held by reconciler apply (pid 5 on web-2)" in lost
    assert "it expired at 2023-11-14T22:13:50" in str(Fenced(LEASE, LEASE, "status write"))
    assert "released or expired" in str(Fenced(LEASE, None, "history write"))


class Grantor:
    """A store that answers each ``try_acquire`` with the next of ``answers`` (None: held by LEASE)."""

    def __init__(self, answers: list[Lease | None], poll: float = 0.25) -> None:
        self.answers = answers
        self.clock = FakeClock()
        self.sleep = self.clock.sleep
        self.poll = poll
        self.tries = 0

        self.replacing: list[int | None] = []

    def try_acquire(self, environment: str, owner: LeaseOwner, ttl: float, *, replacing: int | None = None) -> Lease:
        self.tries += 1
        self.replacing.append(replacing)
        if replacing == LEASE.token:  # the store grants over the holder judged gone
            return replace(LEASE, owner=owner, token=LEASE.token + 1)
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            raise LeaseHeld(LEASE)
        return answer


def test_acquire_refuses_at_once_without_a_wait() -> None:
    store = Grantor([])
    with pytest.raises(LeaseHeld) as info:
        acquire(store, "prod", OWNER, 30.0)
    assert store.tries == 1 and store.clock.slept == [] and info.value.waited == 0


def test_acquire_polls_until_granted_and_tells_once() -> None:
    store = Grantor([None, None, None, LEASE], poll=2)
    told: list[Lease] = []
    assert acquire(store, "prod", OWNER, 30.0, wait=10, on_wait=told.append) == LEASE
    assert told == [LEASE] and store.clock.slept == [2, 2, 2]


def test_acquire_never_sleeps_past_the_deadline() -> None:
    store = Grantor([], poll=2)
    with pytest.raises(LeaseHeld) as info:
        acquire(store, "prod", OWNER, 30.0, wait=5)
    assert store.clock.slept == [2, 2, 1] and info.value.waited == 5


def test_a_holder_judged_gone_is_replaced_at_once_and_told() -> None:
    store = Grantor([])
    judged: list[LeaseOwner] = []
    told: list[Lease] = []

    def gone(owner: LeaseOwner) -> bool:
        judged.append(owner)
        return True

    me = LeaseOwner("web-1", 100, "reconciler apply environments/prod")
    lease = acquire(store, "prod", me, 30.0, gone=gone, on_takeover=told.append)
    assert (lease.owner, lease.token) == (me, LEASE.token + 1)
    assert store.replacing == [None, LEASE.token]  # the second attempt names the token it replaces
    assert judged == [OWNER] and told == [LEASE] and store.clock.slept == []  # no wait
    assert takeover_line(LEASE) == (
        "took over the lease of environment prod from reconciler run environments/prod (pid 99 on web-1): "
        "that process is gone"
    )


def test_a_live_holder_is_waited_for_as_before() -> None:
    store = Grantor([None, LEASE], poll=2)
    told: list[Lease] = []
    assert acquire(store, "prod", OWNER, 30.0, wait=10, gone=lambda _: False, on_takeover=told.append) == LEASE
    assert store.replacing == [None, None] and told == [] and store.clock.slept == [2]
