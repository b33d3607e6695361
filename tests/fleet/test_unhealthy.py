"""Replacing the instances that cannot be reconciled, the decision (pure): at most one a tick, never the
last healthy one nor below minHealthy, never when every instance fails the same way, an unreachable engine
only after N ticks in a row, none while a replacement is under way; a failed health gate where the same
revision passed elsewhere (or a full disk) names the instance, the same failure everywhere names none; the
plan's text and JSON; the count kept in the status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from planschema import assert_valid

from fleet.test_rollout_plan import desired_of, fleet_of, instance, world
from reconciler.core.actions import Change, PullImage
from reconciler.core.fleet import Amount, RolloutSpec
from reconciler.core.fleet_observed import ObservedFleet, ObservedInstance
from reconciler.core.instance_health import InstanceTrouble, Trouble, disk_full
from reconciler.core.observed import ObservedHost
from reconciler.core.plan import Plan, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.core.rollout_actions import HealthGate, LeaveTargetGroups, MarkUnhealthy
from reconciler.core.rotation import UnhealthyReplacement
from reconciler.planner import plan
from reconciler.planner.unhealthy import (
    apply_troubles,
    choose,
    observed_troubles,
    replacement_after_apply,
    unreachable_counts,
)
from reconciler.render.json import plan_document
from reconciler.render.text import render_text
from reconciler.state.codec import status_from_json, status_to_json
from reconciler.state.status import EnvironmentStatus

N = 3
REFUSED = "Cannot connect to the Docker daemon at ssh://ec2-user@10.90.1.11: connection refused"


def unreachable(fleet: ObservedFleet, i: ObservedInstance, ticks: int) -> InstanceTrouble:
    return InstanceTrouble("web", i.id, Trouble.ENGINE_UNREACHABLE, REFUSED, fleet.docker_urls[i.id], ticks)


def marked(units: Unit | None) -> MarkUnhealthy | None:
    if units is None:
        return None
    assert len(units.actions) == 1 and isinstance(units.actions[0], MarkUnhealthy)
    return units.actions[0]


# ---- the rules, one by one ---------------------------------------------------------------------------


def test_an_engine_unreachable_for_n_ticks_is_marked_and_not_before() -> None:
    one, two = instance(1), instance(2)
    fleet = fleet_of([one, two])
    early = choose([unreachable(fleet, one, N - 1)], {"web": fleet}, RolloutSpec(), N)
    assert early.unit is None
    assert [p.address for p in early.problems] == [f"instance:{one.id}"]
    assert f"after {N} ticks in a row" in early.problems[0].message
    ripe = choose([unreachable(fleet, one, N)], {"web": fleet}, RolloutSpec(), N)
    mark = marked(ripe.unit)
    assert mark is not None and mark.instance == one.id and mark.group == "popcon-prod-asg"
    assert ripe.unit is not None and ripe.unit.id == "rollout:web/replace"
    assert mark.reason == (
        f"mark {one.id} unhealthy: engine unreachable for 3 ticks in a row (ssh://ec2-user@10.90.1.11); "
        "group popcon-prod-asg replaces it"
    )
    assert ripe.problems == ()


def test_disabled_never_marks() -> None:
    one, two = instance(1), instance(2)
    fleet = fleet_of([one, two])
    verdict = choose([unreachable(fleet, one, 10)], {"web": fleet}, RolloutSpec(), None)
    assert verdict.unit is None and "replaceUnhealthy is false" in verdict.problems[0].message


def test_never_the_last_healthy_one_nor_when_every_instance_fails() -> None:
    one, two = instance(1), instance(2)
    fleet = fleet_of([one, two])
    both = [unreachable(fleet, one, 5), unreachable(fleet, two, 5)]
    verdict = choose(both, {"web": fleet}, RolloutSpec(), N)
    assert verdict.unit is None
    assert all("every instance of group popcon-prod-asg fails" in p.message for p in verdict.problems)
    alone = fleet_of([one])
    assert choose([unreachable(alone, one, 5)], {"web": alone}, RolloutSpec(), N).unit is None


def test_one_at_a_time() -> None:
    one, two, three = instance(1), instance(2), instance(3)
    fleet = fleet_of([one, two, three, instance(4)])
    verdict = choose([unreachable(fleet, one, 4), unreachable(fleet, two, 4)], {"web": fleet}, RolloutSpec(), N)
    mark = marked(verdict.unit)
    assert mark is not None and mark.instance == one.id
    assert [p.address for p in verdict.problems] == [f"instance:{two.id}"]
    assert "one replacement at a time" in verdict.problems[0].message
    # a replacement under way (the new instance Pending, or not launched yet) holds the next one back
    pending = fleet_of([two, three, replace(instance(5), lifecycle="Pending")])
    held = choose([unreachable(pending, two, 9)], {"web": pending}, RolloutSpec(), N)
    assert held.unit is None and "is Pending" in held.problems[0].message
    short = replace(fleet_of([two, three]), desired_capacity=3)
    held = choose([unreachable(short, two, 9)], {"web": short}, RolloutSpec(), N)
    assert held.unit is None and "2 of 3 instances launched" in held.problems[0].message


def test_min_healthy_is_kept() -> None:
    one, two, three = instance(1), instance(2), instance(3)
    fleet = fleet_of([one, two, three])
    strict = RolloutSpec(min_healthy=Amount(3))
    verdict = choose([unreachable(fleet, one, 5)], {"web": fleet}, strict, N)
    assert verdict.unit is None and "minHealthy 3" in verdict.problems[0].message
    assert marked(choose([unreachable(fleet, one, 5)], {"web": fleet}, RolloutSpec(min_healthy=Amount(2)), N).unit)


# ---- the properties --------------------------------------------------------------------------------

STATES = [("InService", "Healthy")] * 4 + [("Pending", "Healthy"), ("InService", "Unhealthy"), ("Standby", "Healthy")]


Situation = tuple[ObservedFleet, list[InstanceTrouble], RolloutSpec, int | None]


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    size = draw(st.integers(1, 6))
    instances = [
        replace(instance(n + 1), lifecycle=life, health=health)
        for n, (life, health) in enumerate(draw(st.lists(st.sampled_from(STATES), min_size=size, max_size=size)))
    ]
    fleet = replace(fleet_of(instances), desired_capacity=size + draw(st.integers(-1, 1)))
    troubled = draw(st.lists(st.sampled_from(instances), unique=True)) if instances else []
    kinds = st.sampled_from(list(Trouble))
    troubles = [
        InstanceTrouble("web", i.id, draw(kinds), "boom", fleet.docker_urls[i.id], draw(st.integers(1, 6)))
        for i in troubled
        if i.serves
    ]
    min_healthy = draw(st.one_of(st.none(), st.integers(0, size).map(Amount)))
    ticks = draw(st.one_of(st.none(), st.integers(1, 5)))
    return fleet, troubles, RolloutSpec(min_healthy=min_healthy), ticks


@settings(max_examples=300, deadline=None)
@given(situations())
def test_the_rules_hold_for_any_fleet(situation: Situation) -> None:
    fleet, troubles, rollout, ticks = situation
    verdict = choose(troubles, {"web": fleet}, rollout, ticks)
    assert verdict == choose(troubles, {"web": fleet}, rollout, ticks)  # deterministic
    mark = marked(verdict.unit)
    by_id = {t.instance: t for t in troubles}
    if mark is None:
        assert len(verdict.problems) == len(troubles)  # every instance in trouble is reported
        return
    assert ticks is not None, "replaceUnhealthy: false never marks"
    trouble = by_id[mark.instance]
    serving = [i.id for i in fleet.serving]
    assert mark.instance in serving
    if trouble.trouble is Trouble.ENGINE_UNREACHABLE:
        assert trouble.ticks >= ticks
    healthy = [i for i in serving if i not in by_id]
    assert healthy, "never the last healthy one, never when every instance fails"
    assert all(i.serves or i.lifecycle == "Standby" for i in fleet.instances), "one replacement at a time"
    assert len(fleet.instances) >= fleet.desired_capacity
    if rollout.min_healthy is not None:
        assert len(serving) - 1 >= rollout.min_in_service(len(serving))
    assert len(verdict.problems) == len(troubles) - 1  # at most one marked; the others say why not


# ---- through the planner ---------------------------------------------------------------------------


def test_the_plan_marks_an_instance_whose_engine_stayed_unreachable(tmp_path: Path) -> None:
    desired = desired_of(tmp_path)
    one, two = instance(1), instance(2)
    fleet = fleet_of([one, two])
    observed = replace(world(desired, fleet), hosts={one.id: ObservedHost(one.id, error=REFUSED)})
    first = plan(desired, observed)
    assert [(t.instance, t.ticks) for t in first.troubles] == [(one.id, 1)]
    assert unreachable_counts(first.troubles) == {one.id: 1}
    assert not any(isinstance(a, MarkUnhealthy) for a in first.actions)
    assert any(
        p.address == f"instance:{one.id}" and "engine unreachable for 1 tick (ssh://ec2-user@10.90.1.11)" in p.message
        for p in first.problems
    )
    third = plan(desired, observed, unreachable_before={one.id: N - 1, "i-0gone": 7})
    assert unreachable_counts(third.troubles) == {one.id: N}  # an instance gone is forgotten
    assert third.units[-1].id == "rollout:web/replace"
    text = render_text(third)
    assert f"-/+ instance:{one.id}/replace" in text
    assert f"mark {one.id} unhealthy: engine unreachable for 3 ticks in a row (ssh://ec2-user@10.90.1.11)" in text
    assert "Fleet web: an instance that cannot be reconciled, replaced by its group" in text
    document = plan_document(third)
    assert_valid(document)
    (change,) = [c for c in document["resource_changes"] if c["kind"] == "mark_unhealthy"]
    assert change["actions"] == ["delete", "create"]
    assert change["details"]["trouble"] == "EngineUnreachable" and change["details"]["ticks"] == N
    assert plan(desired, world(desired, fleet), unreachable_before={one.id: 2}).troubles == ()  # reachable again


def test_every_engine_unreachable_marks_none(tmp_path: Path) -> None:
    desired = desired_of(tmp_path)
    one, two = instance(1), instance(2)
    fleet = fleet_of([one, two])
    hosts = {i.id: ObservedHost(i.id, error=REFUSED) for i in (one, two)}
    result = plan(desired, replace(world(desired, fleet), hosts=hosts), unreachable_before={one.id: 9, two.id: 9})
    assert not any(isinstance(a, MarkUnhealthy) for a in result.actions)
    assert unreachable_counts(result.troubles) == {one.id: 10, two.id: 10}


def test_observed_troubles_count_only_serving_instances() -> None:
    one, two = instance(1), instance(2, lifecycle="Pending")
    fleet = fleet_of([one, two])
    hosts = {i.id: ObservedHost(i.id, error=REFUSED) for i in (one, two)}
    assert [t.instance for t in observed_troubles({"web": fleet}, hosts, {})] == [one.id]


# ---- after a rollout ---------------------------------------------------------------------------------


def gate(i: ObservedInstance, batch: int) -> HealthGate:
    return HealthGate(change=Change(f"instance:{i.id}/health", {"s": 1}, {"s": 2}), reason="r", fleet="web",
                      batch=batch, instance=i.id, url=f"http://{i.private_ip}:3000/health", service="frontend",
                      attempts=3, interval=1.0, timeout=1.0)  # fmt: skip


def leave(i: ObservedInstance, batch: int) -> LeaveTargetGroups:
    return LeaveTargetGroups(change=Change(f"instance:{i.id}/leave", {"s": 1}, {"s": 2}), reason="r", fleet="web",
                             batch=batch, instance=i.id, target_groups=(), drain_timeout=1.0)  # fmt: skip


def rollout(*instances: ObservedInstance) -> Plan:
    units: list[Unit] = []
    for n, i in enumerate(instances, start=1):
        stack = PullImage(change=Change(f"image:{i.id}/popcon/frontend", None, {}), reason="r", host=i.id,
                          stack="popcon", reference="r/frontend@sha256:1", registry="r")  # fmt: skip
        units += [Unit(id=f"rollout:web/{n}/leave", actions=(leave(i, n),)),
                  Unit(id=f"stack:{i.id}/popcon", host=i.id, stack="popcon", actions=(stack,)),
                  Unit(id=f"rollout:web/{n}/join", actions=(gate(i, n),))]  # fmt: skip
    return Plan(environment="prod", units=tuple(units))


def report(p: Plan, failed: dict[str, str]) -> ApplyReport:
    """Every action done, but those whose address is in ``failed`` (address -> message)."""
    return ApplyReport(tuple(
        ActionResult(a.address, a.kind, "failed" if a.address in failed else "done", failed.get(a.address, ""))
        for a in p.actions
    ))  # fmt: skip


def test_a_gate_that_fails_where_the_revision_passed_names_the_instance() -> None:
    one, two = instance(1), instance(2)
    p = rollout(one, two)
    found = apply_troubles(p, report(p, {f"instance:{two.id}/health": "health check failed: HTTP 500"}))
    assert [(t.instance, t.trouble) for t in found] == [(two.id, Trouble.HEALTH_CHECK_FAILED)]
    assert found[0].passed_on == (one.id,) and found[0].detail == "health check failed: HTTP 500"
    assert found[0].describe() == f"health check failed while the same revision passed on {one.id}"
    unit = replacement_after_apply(p, report(p, {f"instance:{two.id}/health": "boom"}), True)
    mark = marked(unit)
    assert mark is not None and mark.instance == two.id and mark.trouble == "HealthCheckFailed"
    assert replacement_after_apply(p, report(p, {f"instance:{two.id}/health": "boom"}), False) is None


def test_the_same_failure_everywhere_names_none() -> None:
    one, two = instance(1), instance(2)
    p = rollout(one, two)
    both = {f"instance:{i.id}/health": "health check failed" for i in (one, two)}
    assert apply_troubles(p, report(p, both)) == ()
    first_only = rollout(one)  # batch 1 failed on the first instance: nothing passed yet, a rollback
    assert apply_troubles(first_only, report(first_only, {f"instance:{one.id}/health": "x"})) == ()


def test_a_full_disk_names_the_instance_when_another_changed() -> None:
    one, two = instance(1), instance(2)
    p = rollout(one, two)
    enospc = "pull failed: write /var/lib/docker/tmp/x: no space left on device"
    found = apply_troubles(p, report(p, {f"image:{two.id}/popcon/frontend": enospc}))
    assert [(t.instance, t.trouble) for t in found] == [(two.id, Trouble.DISK_FULL)]
    everywhere = {f"image:{i.id}/popcon/frontend": enospc for i in (one, two)}
    assert apply_troubles(p, report(p, everywhere)) == ()
    assert disk_full("Error response from daemon: mkdir /x: No space left on device")
    assert not disk_full("Error response from daemon: manifest unknown")


def test_the_count_survives_the_store() -> None:
    status = EnvironmentStatus("prod", unreachable={"i-0000000000000000a": 2})
    assert status_from_json(status_to_json(status), "prod") == status
    assert status_from_json(status_to_json(EnvironmentStatus("prod")), "prod").unreachable == {}


def test_the_setting_of_the_spec_is_followed(tmp_path: Path) -> None:
    desired = desired_of(tmp_path)
    one, two = instance(1), instance(2)
    observed = replace(world(desired, fleet_of([one, two])), hosts={one.id: ObservedHost(one.id, error=REFUSED)})
    sooner = replace(desired, rollout=replace(desired.rollout, replace_unhealthy=UnhealthyReplacement(2)))
    second = {one.id: 1}  # the second tick
    assert any(isinstance(a, MarkUnhealthy) for a in plan(sooner, observed, unreachable_before=second).actions)
    assert not any(isinstance(a, MarkUnhealthy) for a in plan(desired, observed, unreachable_before=second).actions)
    never = replace(desired, rollout=replace(desired.rollout, replace_unhealthy=None))
    result = plan(never, observed, unreachable_before={one.id: 50})
    assert not any(isinstance(a, MarkUnhealthy) for a in result.actions)
    assert unreachable_counts(result.troubles) == {one.id: 51}  # still counted and reported
    assert any("replaceUnhealthy is false" in p.message for p in result.problems)


def test_an_unreachable_instance_holds_back_none_of_the_others(tmp_path: Path) -> None:
    desired = desired_of(tmp_path)
    one, two = instance(1), instance(2)
    observed = replace(world(desired, fleet_of([one, two])), hosts={one.id: ObservedHost(one.id, error=REFUSED)})
    result = plan(desired, observed)
    assert any(u.host == two.id and u.actions for u in result.units)  # the other instance is deployed to
    assert not any(u.host == one.id for u in result.units)
    assert not any("comes before" in p.message for p in result.problems)
    stack = [p for p in result.problems if p.address.startswith(f"stack:{one.id}/")]
    assert stack and all("could not be observed" in p.message for p in stack)


def test_the_mark_waits_for_the_rollout_of_the_others(tmp_path: Path) -> None:
    desired = desired_of(tmp_path)
    one, two = instance(1), instance(2)
    observed = replace(world(desired, fleet_of([one, two])), hosts={one.id: ObservedHost(one.id, error=REFUSED)})
    result = plan(desired, observed, unreachable_before={one.id: N - 1})
    mark = result.units[-1]
    rollout = [u.id for u in result.units if u.id.startswith("rollout:web/") and u is not mark]
    assert mark.id == "rollout:web/replace" and rollout and set(mark.after) == set(rollout)
    assert_valid(plan_document(result))
