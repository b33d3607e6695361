"""The rollout in the plan (pure): a fleet's changed instances in batches, each leaving the target
groups, changing, passing the health gate and re-joining; minHealthy; capacity put back after a crash;
alarms already in ALARM ignored; the text, Markdown and JSON forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planschema import assert_valid

from fleet.test_fleet_spec import FLEET_ENV, GOOD_TG, make_env
from reconciler.core.fleet_observed import (
    ObservedAlarm,
    ObservedFleet,
    ObservedInstance,
    ObservedTarget,
    ObservedTargetGroup,
)
from reconciler.core.model import DesiredState, Sensitive
from reconciler.core.observed import ObservedParameter, ObservedState
from reconciler.core.plan import Plan
from reconciler.core.rollout_actions import CheckAlarms, HealthGate, JoinTargetGroups, LeaveTargetGroups
from reconciler.planner import plan
from reconciler.planner.images import all_refs
from reconciler.render.json import plan_document
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

DIGEST = "sha256:" + "a" * 64


def desired_of(tmp_path: Path, batch: str = "1", extra: str = "") -> DesiredState:
    text = FLEET_ENV.replace("BATCH", batch).replace("TARGET_GROUP", GOOD_TG).replace("SERVICE", "frontend") + extra
    return build_desired(load_environment(make_env(tmp_path, text)), {"POPCON_PROD_DB_PASSWORD": "s3cret"}.get)


def instance(n: int, lifecycle: str = "InService", health: str = "Healthy") -> ObservedInstance:
    return ObservedInstance(f"i-{n:017x}", lifecycle, health, f"10.90.1.{10 + n}", launched=f"2026-12-0{n}")


def fleet_of(
    instances: list[ObservedInstance],
    *,
    states: dict[str, str] | None = None,
    alarms: tuple[ObservedAlarm, ...] = (),
) -> ObservedFleet:
    states = states or {}
    targets = tuple(
        ObservedTarget(i.id, 3000, states.get(i.id, "healthy")) for i in instances if states.get(i.id) != "absent"
    )
    group = ObservedTargetGroup(GOOD_TG, "popcon-prod-tg", 3000, 5.0, targets)
    urls = {i.id: f"ssh://ec2-user@{i.private_ip}" for i in instances}
    return ObservedFleet("web", "popcon-prod-asg", tuple(instances), len(instances), (group,), alarms, (), None, urls)


def world(desired: DesiredState, fleet: ObservedFleet) -> ObservedState:
    """Images resolve, the external secrets exist, no instance runs anything yet."""
    digests = {ref.key: DIGEST for ref in all_refs(desired).values()}
    externals = {
        name: ObservedParameter(name, "SecureString", Sensitive("x"))
        for name in ("/popcon/prod/DB_USERNAME", "/popcon/prod/DB_ROOT_PASSWORD")
    }
    return ObservedState(parameters=externals, image_digests=digests, fleets={"web": fleet})


def planned(desired: DesiredState, fleet: ObservedFleet) -> Plan:
    return plan(desired, world(desired, fleet))


def unit_ids(result: Plan) -> list[str]:
    return [u.id for u in result.units]


def test_one_at_a_time_over_two_instances(tmp_path: Path) -> None:
    one, two = instance(1), instance(2)
    result = planned(desired_of(tmp_path), fleet_of([one, two]))
    assert not result.problems
    assert unit_ids(result) == [
        "parameters",
        "rollout:web/1/leave", f"stack:{one.id}/popcon", "rollout:web/1/join",
        "rollout:web/2/leave", f"stack:{two.id}/popcon", "rollout:web/2/join",
        "rollout:web/bake",
    ]  # fmt: skip
    units = {u.id: u for u in result.units}
    assert units[f"stack:{one.id}/popcon"].after == ("rollout:web/1/leave",)
    assert units["rollout:web/1/join"].after == ("rollout:web/1/leave", f"stack:{one.id}/popcon")
    assert units["rollout:web/2/leave"].after == ("rollout:web/1/join",)
    assert units[f"stack:{two.id}/popcon"].after == ("rollout:web/2/leave",)  # the batches order the instances
    (leave,) = units["rollout:web/1/leave"].actions
    assert isinstance(leave, LeaveTargetGroups) and leave.instance == one.id and leave.drain_timeout == 30.0
    gate, join, alarms = units["rollout:web/1/join"].actions
    assert isinstance(gate, HealthGate) and gate.url == f"http://{one.private_ip}:3000/health"
    assert gate.attempts == 30 and gate.interval == 10.0
    assert isinstance(join, JoinTargetGroups) and not join.restore and join.actions == ()
    assert isinstance(alarms, CheckAlarms) and alarms.alarms == ("popcon-prod-5xx", "popcon-prod-unhealthy-hosts")
    # the steps change nothing of their own: the counts are the stacks' changes
    stack_actions = sum(len(u.actions) for u in result.units if u.id.startswith("stack:"))
    c = plan_document(result)["summary"]
    assert isinstance(c, dict) and c["add"] == stack_actions + 9  # 9 parameters created


def test_half_at_a_time_over_four_instances(tmp_path: Path) -> None:
    fleet = [instance(n) for n in range(1, 5)]
    result = planned(desired_of(tmp_path, '"50%"', ""), fleet_of(fleet))
    # minHealthy 1 in FLEET_ENV: 4 in service, batch 2 keeps 2 in
    ids = unit_ids(result)
    assert ids.count("rollout:web/1/leave") == 1 and "rollout:web/3/leave" not in ids
    units = {u.id: u for u in result.units}
    assert [a.instance for a in units["rollout:web/1/leave"].actions] == [fleet[0].id, fleet[1].id]  # type: ignore[attr-defined]
    assert [a.instance for a in units["rollout:web/2/leave"].actions] == [fleet[2].id, fleet[3].id]  # type: ignore[attr-defined]


def test_only_changed_instances_are_rolled(tmp_path: Path) -> None:
    """Instances in sync are left in service (here: none observed, so all change; one Pending is no host)."""
    one, pending = instance(1), instance(2, lifecycle="Pending")
    result = planned(desired_of(tmp_path), fleet_of([one, pending], states={pending.id: "absent"}))
    assert all(pending.id not in u.id for u in result.units)
    assert any(u.address == f"instance:{pending.id}" and "Pending" in u.reason for u in result.unchanged)


def test_a_failing_instance_goes_first_and_the_healthy_one_only_once_it_is_back(tmp_path: Path) -> None:
    one, two = instance(1), instance(2)
    sick = fleet_of([one, two], states={two.id: "unhealthy"})
    result = planned(desired_of(tmp_path), sick)
    stacks = [u.id for u in result.units if u.id.startswith("stack:")]
    assert stacks == [f"stack:{two.id}/popcon", f"stack:{one.id}/popcon"]
    units = {u.id: u for u in result.units}
    # the healthy one leaves only after the sick one passed its gate and re-joined (a failed gate stops there)
    assert units["rollout:web/2/leave"].after == ("rollout:web/1/join",)
    assert [a.instance for a in units["rollout:web/2/leave"].actions] == [one.id]  # type: ignore[attr-defined]
    # the sick one's change waits for no other instance's (the healthy one's comes in batch 2): it did, and
    # was never run (found by the e2e minHealthy test)
    assert units[f"stack:{two.id}/popcon"].after == ("rollout:web/1/leave",)
    assert not result.problems


def test_min_healthy_that_cannot_be_kept_is_a_problem(tmp_path: Path) -> None:
    text_desired = build_desired(
        load_environment(
            make_env(
                tmp_path / "b",
                FLEET_ENV.replace("BATCH", "1").replace("TARGET_GROUP", GOOD_TG).replace("SERVICE", "frontend")
                .replace("minHealthy: 1", "minHealthy: 2"),
            )
        ),
        {"POPCON_PROD_DB_PASSWORD": "s3cret"}.get,
    )  # fmt: skip
    result = planned(text_desired, fleet_of([instance(1), instance(2)]))
    assert not any(u.id.startswith(("rollout:", "stack:")) for u in result.units)
    (problem,) = [p for p in result.problems if p.address == "fleet:web"]
    assert "2 of 2 instances in service and minHealthy 2" in problem.message


def test_an_instance_left_out_by_a_crash_is_put_back_first(tmp_path: Path) -> None:
    one, two = instance(1), instance(2)
    desired = desired_of(tmp_path)
    crashed = fleet_of([one, two], states={two.id: "unused"})
    result = planned(desired, crashed)
    # both change here: the one already out goes first (it takes nothing more out), then the other
    assert [u.id for u in result.units if u.id.startswith("stack:")] == [
        f"stack:{two.id}/popcon",
        f"stack:{one.id}/popcon",
    ]
    assert not result.problems


@pytest.mark.parametrize("already", [True, False])
def test_an_alarm_already_in_alarm_is_ignored_and_said(tmp_path: Path, already: bool) -> None:
    alarms = (
        ObservedAlarm("popcon-prod-5xx", "ALARM" if already else "OK"),
        ObservedAlarm("popcon-prod-unhealthy-hosts", "OK"),
    )
    result = planned(desired_of(tmp_path), fleet_of([instance(1), instance(2)], alarms=alarms))
    check = next(a for a in result.actions if isinstance(a, CheckAlarms))
    assert check.ignored == (("popcon-prod-5xx",) if already else ())
    assert ("already in ALARM before, ignored: popcon-prod-5xx" in check.reason) is already


def test_the_rollout_renders_and_validates(tmp_path: Path) -> None:
    result = planned(desired_of(tmp_path), fleet_of([instance(1), instance(2)]))
    text = render_text(result)
    assert "Rollout of fleet web, batch 1: leave the load balancer:" in text
    assert "< instance:i-00000000000000001/leave  # batch 1: leaves popcon-prod-tg and drains (up to 30s)" in text
    assert "Rollout of fleet web: bake:" in text
    markdown = render_markdown(result)
    assert "health gate" in markdown and "s3cret" not in markdown and "s3cret" not in text
    document = plan_document(result)
    assert_valid(json.loads(json.dumps(document)))


def test_a_batchs_instances_change_together(tmp_path: Path) -> None:
    from reconciler.executor.run import _waves

    fleet = [instance(n) for n in range(1, 5)]
    result = planned(desired_of(tmp_path, '"50%"'), fleet_of(fleet))
    units = {u.id: u for u in result.units}
    second = units[f"stack:{fleet[1].id}/popcon"]
    assert second.after == ("rollout:web/1/leave",)  # not after the first instance of its batch
    waves = [[u.id for u in wave] for wave in _waves(list(result.units))]
    assert [f"stack:{fleet[0].id}/popcon", f"stack:{fleet[1].id}/popcon"] in waves
    assert [f"stack:{fleet[2].id}/popcon", f"stack:{fleet[3].id}/popcon"] in waves
    assert ["rollout:web/1/join"] in waves and ["parameters"] in waves
