"""The live progress folded from a tick's events (reconciler.core.progress): phases, and a fleet's rollout
batch by batch, as the executor emits its events for the planner's units."""

from __future__ import annotations

from reconciler.core.events import (
    ActionFinished,
    ActionStarted,
    DeployStarted,
    Event,
    PlanReady,
    PlanStarted,
    RollbackStarted,
    UnitFinished,
    UnitStarted,
)
from reconciler.core.progress import APPLYING, IDLE, PLANNING, ROLLING_BACK, Progress, advance, idle
from reconciler.planner.rollout import rollout_unit_id

SHA = "c" * 40


def fold(events: list[Event], start: Progress | None = None) -> list[Progress]:
    p, out = start or idle(), []
    for t, event in enumerate(events):
        p = advance(p, event, float(t))
        out.append(p)
    return out


def batch(number: int, instance: str) -> list[Event]:
    leave, join = rollout_unit_id("web", f"{number}/leave"), rollout_unit_id("web", f"{number}/join")
    return [
        UnitStarted(leave, None, None, 1),
        ActionStarted(f"instance:{instance}/leave", "leave_target_groups", "leaving the load balancer and draining"),
        ActionFinished(f"instance:{instance}/leave", "leave_target_groups", "done"),
        UnitFinished(leave, None, None, "done"),
        UnitStarted(f"stack:{instance}/popcon", instance, "popcon", 1),
        ActionStarted(f"service:{instance}/popcon/frontend", "recreate_service", "recreating with docker compose"),
        UnitFinished(f"stack:{instance}/popcon", instance, "popcon", "done"),
        UnitStarted(join, None, None, 2),
        ActionStarted(f"instance:{instance}/health", "health_gate", "waiting for the health check"),
        UnitFinished(join, None, None, "done"),
    ]


def test_a_tick_plans_then_applies_then_is_idle() -> None:
    steps = fold([PlanStarted("prod"), PlanReady("prod", 3, 0, 0.1),
                  DeployStarted("prod", SHA, "Ann", "bump", "frontend 1.4.0 -> 1.5.0")])  # fmt: skip
    assert [p.phase for p in steps] == [PLANNING, PLANNING, APPLYING]
    assert steps[-1].revision == SHA and steps[-1].environment == "prod" and steps[-1].since == 2.0
    assert idle(9.0).phase == IDLE and idle(9.0).rollout is None


def test_each_batch_says_its_number_instances_and_step() -> None:
    events: list[Event] = [DeployStarted("prod", SHA, "Ann", "bump", "why"), *batch(1, "i-0a"), *batch(2, "i-0b")]
    steps = fold(events)
    seen = [(p.rollout.batch, p.rollout.phase, p.rollout.instances, p.rollout.step) for p in steps if p.rollout]
    assert seen[0] == (1, "leave", (), "leaving the load balancer and draining")
    assert seen[1] == (1, "leave", ("i-0a",), "leaving the load balancer and draining")
    assert (1, "change", ("i-0a",), "changing popcon") in seen
    assert (1, "join", ("i-0a",), "waiting for the health check") in seen
    assert seen[-1] == (2, "join", ("i-0b",), "waiting for the health check")
    assert (2, "leave", ("i-0b",), "leaving the load balancer and draining") in seen
    assert not any(b == 2 and "i-0a" in inst for b, _, inst, _ in seen)  # a new batch starts afresh
    last = steps[-1]
    assert last.rollout is not None and last.rollout.batches_done == 2 and last.rollout.started_at == 1.0
    assert last.units_done == 6 and last.running == ()


def test_a_failed_join_says_so_and_a_rollback_starts_afresh() -> None:
    join = rollout_unit_id("web", "1/join")
    events: list[Event] = [DeployStarted("prod", SHA, "Ann", "bump", "why"), *batch(1, "i-0a")[:-1],
                           UnitFinished(join, None, None, "failed")]  # fmt: skip
    failed = fold(events)[-1]
    assert failed.rollout is not None and failed.rollout.failed == join and failed.units_failed == 1
    assert failed.rollout.step == f"stopped: {join} failed"
    back = advance(failed, RollbackStarted("prod", "d" * 40, "health check failed"), 50.0)
    assert back.phase == ROLLING_BACK and back.revision == "d" * 40 and back.rollout is None
    again = advance(back, PlanStarted("prod"), 51.0)  # the rollback plans: still rolling back
    assert again.phase == ROLLING_BACK


def test_the_bake_has_no_batch() -> None:
    bake = rollout_unit_id("web", "bake")
    p = fold([DeployStarted("prod", SHA, "Ann", "bump", "why"), *batch(1, "i-0a"), UnitStarted(bake, None, None, 1)])
    rollout = p[-1].rollout
    assert rollout is not None and (rollout.batch, rollout.phase, rollout.instances) == (0, "bake", ())
    assert rollout.step == "watching the alarms (bake)" and rollout.batches_done == 1
