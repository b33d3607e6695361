"""The loop rolls a failed fleet rollout back (fake git source and world, the real SQLite store): the last
applied revision applied again, status Degraded RolledBack naming the failure, history with the rollout and
the rollback, the failed revision not retried; no rollback without an earlier revision or with
autoRollback off, nor for a failure outside a rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from loop import test_tick
from loop.kit import A, B, plan
from loop.test_tick import FakeWorld, Rig, done
from reconciler.core.actions import Change
from reconciler.core.plan import Plan, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.core.rollout_actions import Bake, CheckAlarms, HealthGate, JoinTargetGroups
from reconciler.loop.rollback import rollout_failure
from reconciler.planner.rollout import without_alarm_steps
from reconciler.state import ConditionStatus, ConditionType, Reason, Result

rig = test_tick.rig  # the tick tests' fixture: a Ticker over a fake source and world, the real SQLite store

INSTANCE = "i-0123456789abcdef0"
URL = "http://10.90.1.11:3000/health"


def rollout_plan(*names: str) -> Plan:
    """Parameters ``names``, then a rollout unit: the gate, the re-join, the alarms, then the bake."""
    base = plan(*names)
    step = {"fleet": "web", "batch": 1, "reason": "r"}
    gate = HealthGate(
        change=Change(f"instance:{INSTANCE}/health", {"s": 1}, {"s": 2}),
        instance=INSTANCE,
        url=URL,
        service="frontend",
        attempts=3,
        interval=1.0,
        timeout=1.0,
        **step,
    )  # type: ignore[arg-type]
    join = JoinTargetGroups(
        change=Change(f"instance:{INSTANCE}/join", {"s": 1}, {"s": 2}), instance=INSTANCE, target_groups=(), **step
    )  # type: ignore[arg-type]
    alarms = CheckAlarms(change=Change("fleet:web/alarms/1", {"s": 1}, {"s": 2}), alarms=("a",), **step)  # type: ignore[arg-type]
    bake = Bake(change=Change("fleet:web/bake", {"s": 1}, {"s": 2}), alarms=("a",), seconds=60.0, fleet="web",
                batch=0, reason="r")  # fmt: skip
    units = (*base.units, Unit(id="rollout:web/1/join", actions=(gate, join, alarms)),
             Unit(id="rollout:web/bake", actions=(bake,), after=("rollout:web/1/join",)))  # fmt: skip
    return replace(base, units=units)


def gate_fails(p: Plan) -> ApplyReport:
    results = []
    for a in p.actions:
        if isinstance(a, HealthGate):
            results.append(ActionResult(a.address, a.kind, "failed", f"health check failed: {URL} answered HTTP 500"))
        elif isinstance(a, JoinTargetGroups | CheckAlarms | Bake):
            results.append(ActionResult(a.address, a.kind, "skipped", "not done"))
        else:
            results.append(ActionResult(a.address, a.kind, "done"))
    return ApplyReport(tuple(results))


def test_a_failed_gate_rolls_back_to_the_last_applied_revision(rig: Callable[..., Rig]) -> None:
    good, bad, back = plan("/p/X"), rollout_plan("/p/Y"), rollout_plan("/p/X")
    calls: list[Plan] = []

    def outcome(p: Plan) -> ApplyReport:
        calls.append(p)
        return gate_fails(p) if p is bad else done(p)

    r = rig(FakeWorld(found=[good, plan()], outcome=outcome))
    assert r.tick().result is Result.APPLIED  # A applied
    r.source.head = B
    r.source.known[B.sha] = B
    r.world.found = [bad, back, bad]
    outcome_b = r.tick()
    assert outcome_b.result is Result.PARTIAL
    assert r.world.calls == ["open", "plan", "recheck", "apply", "close", "open", "plan", "recheck", "apply", "close",
                             "close"]  # fmt: skip
    # the rollback applied A's plan without its alarm steps
    applied_back = r.world.applied[-1]
    assert [a.kind for a in applied_back.actions] == ["put_parameter", "health_gate", "join_target_groups"]
    status = r.status()
    assert status.last_applied == A and status.last_attempted == B
    ready = r.condition(ConditionType.READY)
    assert ready[:2] == (ConditionStatus.FALSE, Reason.ROLLED_BACK)
    assert ready[2] == (f"rolled back to {A.sha[:12]} after: instance:{INSTANCE}/health: health check failed: "
                        f"{URL} answered HTTP 500")  # fmt: skip
    assert r.condition(ConditionType.DEGRADED)[:2] == (ConditionStatus.TRUE, Reason.ROLLED_BACK)
    rollout, rollback = r.history()[:2][::-1]
    assert rollout.revision == B and rollout.result is Result.PARTIAL and "HTTP 500" in (rollout.error or "")
    assert rollback.revision == A and rollback.result is Result.APPLIED
    assert rollback.reason.startswith(f"rollback to {A.sha[:12]}") and f"instance:{INSTANCE}/health" in rollback.reason
    # the revision is not tried again while nothing changes
    r.world.found = [bad]
    again = r.tick()
    assert again.result is Result.SKIPPED and "failed before" in again.reason
    assert "apply" not in r.world.calls


def test_no_rollback_without_an_earlier_revision(rig: Callable[..., Rig]) -> None:
    bad = rollout_plan("/p/Y")
    r = rig(FakeWorld(found=[bad], outcome=gate_fails))
    outcome = r.tick()
    assert outcome.result is Result.PARTIAL and r.world.calls.count("apply") == 1
    assert r.condition(ConditionType.DEGRADED)[:2] == (ConditionStatus.TRUE, Reason.APPLY_FAILED)


def test_a_failure_outside_a_rollout_is_not_rolled_back() -> None:
    p = plan("/p/X")
    report = ApplyReport(tuple(ActionResult(a.address, a.kind, "failed", "AccessDenied") for a in p.actions))
    assert rollout_failure(p, report) is None
    bad = rollout_plan("/p/Y")
    assert (
        rollout_failure(bad, gate_fails(bad))
        == f"instance:{INSTANCE}/health: health check failed: {URL} answered HTTP 500"
    )


def test_alarm_steps_are_left_out_of_a_rollback_and_the_order_kept() -> None:
    p = rollout_plan("/p/X")
    stripped = without_alarm_steps(p)
    assert [u.id for u in stripped.units] == ["parameters", "rollout:web/1/join"]
    only_alarms = replace(p, units=(*p.units[:1], Unit(id="rollout:web/1/join", actions=p.units[1].actions[2:]),
                                    Unit(id="stack:x/popcon", actions=(), after=("rollout:web/1/join",))))  # fmt: skip
    assert without_alarm_steps(only_alarms).units[-1].after == ()
