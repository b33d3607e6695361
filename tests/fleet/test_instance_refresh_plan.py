"""``rotation: instanceRefresh`` in the plan (pure): one ``instance_refresh`` after the fleet's other
units when instances run another launch template version, none when every one runs the wanted one;
the text, JSON (against specs/plan.schema.json) and the way back of a rollback (no alarms, no bake)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from planschema import assert_valid

from fleet.test_rollout_plan import fleet_of, instance, planned
from fleet.test_rotation_spec import desired_of, rotation_env
from reconciler.core.fleet_observed import ObservedInstance
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.launch_observed import ObservedLaunch
from reconciler.core.model import DesiredState
from reconciler.core.plan import Plan
from reconciler.planner.rollout import without_alarm_steps
from reconciler.render.json import plan_document
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

REFRESH = "    rotation: instanceRefresh\n    launchHook: {timeout: 15m}\n"


def refresh_desired(tmp_path: Path, rotation: str = REFRESH, *, stacks: bool = False) -> DesiredState:
    desired = desired_of(tmp_path, rotation_env(rotation=rotation))
    return desired if stacks else replace(desired, stacks=())


def on(n: int, version: str, lifecycle: str = "InService") -> ObservedInstance:
    return replace(instance(n, lifecycle=lifecycle), launch_template=f"popcon-prod-lt:{version}")


def refresh_of(result: Plan) -> InstanceRefresh:
    (unit,) = [u for u in result.units if u.id == "rollout:web/refresh"]
    (action,) = unit.actions
    assert isinstance(action, InstanceRefresh)
    return action


def test_instances_on_an_older_version_are_refreshed(tmp_path: Path) -> None:
    one, two = on(1, "6"), on(2, "6")
    result = planned(refresh_desired(tmp_path), fleet_of([one, two]))
    assert not result.problems
    action = refresh_of(result)
    assert action.group == "popcon-prod-asg" and str(action.template) == "popcon-prod-lt 7"
    assert action.instances == (one.id, two.id) and action.before == ("6",)
    assert action.launch_hook == "reconciler-launch"
    prefs = action.preferences
    assert (prefs.min_healthy, prefs.max_healthy, prefs.skip_matching) == (50, 100, True)  # minHealthy 1 of 2
    assert prefs.alarms == ("popcon-prod-5xx", "popcon-prod-unhealthy-hosts") and prefs.auto_rollback
    assert (prefs.bake_time, prefs.instance_warmup) == (120, 10)
    # per batch of 1: launch 5m + hook 15m + warmup 10s + drain 30s; 2 batches, the bake, 10m of slack
    assert action.timeout == 2 * (300 + 900 + 10 + 30) + 120 + 600
    assert action.reason == (
        "instance refresh popcon-prod-asg: launch template popcon-prod-lt 6 -> 7 (min healthy 50%, skip matching, "
        "2 alarms, bake 2m, auto rollback); waits up to 54m, converging each new instance before it serves"
    )
    assert action.actions == ("update",)


def test_the_forms_of_the_plan(tmp_path: Path) -> None:
    result = planned(refresh_desired(tmp_path), fleet_of([on(1, "6"), on(2, "7")]))
    text = render_text(result)
    assert "Fleet web: instance refresh (AWS replaces the instances" in text
    line = "~ fleet:web/instance-refresh  # instance refresh popcon-prod-asg: launch template popcon-prod-lt 6 -> 7"
    assert line in text
    assert "1 to change" in text.splitlines()[-1]  # the parameters are created; the refresh is the change
    assert "fleet:web/instance-refresh" in render_markdown(result)
    document = plan_document(result)
    assert_valid(document)
    (change,) = [c for c in document["resource_changes"] if c["kind"] == "instance_refresh"]  # type: ignore[union-attr, index]
    details = change["details"]
    assert details["launch_template"] == {"name": "popcon-prod-lt", "version": "7"}
    assert details["instances"] == [instance(1).id]  # the one on 7 stays (SkipMatching)
    assert details["preferences"]["min_healthy_percentage"] == 50
    json.dumps(document)


def test_nothing_when_every_instance_runs_the_wanted_version(tmp_path: Path) -> None:
    result = planned(refresh_desired(tmp_path), fleet_of([on(1, "7"), on(2, "7")]))
    assert [u.id for u in result.units] == ["parameters"] and not result.problems


@pytest.mark.parametrize("rotation", ["    rotation: replace\n    launchHook: {}\n", ""])
def test_the_reconciler_s_own_rotation_plans_no_refresh(tmp_path: Path, rotation: str) -> None:
    result = planned(refresh_desired(tmp_path, rotation), fleet_of([on(1, "6"), on(2, "6")]))
    assert all(u.id != "rollout:web/refresh" for u in result.units)


def test_standby_and_terminating_instances_are_not_counted(tmp_path: Path) -> None:
    fleet = fleet_of([on(1, "7"), on(2, "6", "Standby"), on(3, "6", "Terminating"), on(4, "6", "Pending")])
    action = refresh_of(planned(refresh_desired(tmp_path), fleet))
    assert action.instances == (instance(4).id,)  # launched from the group's old template: replaced too


def test_it_comes_after_the_fleet_s_rollout(tmp_path: Path) -> None:
    result = planned(refresh_desired(tmp_path, stacks=True), fleet_of([on(1, "6"), on(2, "6")]))
    ids = [u.id for u in result.units]
    assert ids[-1] == "rollout:web/refresh"
    fleet_units = [i for i in ids if i.startswith(("rollout:web/", "stack:i-"))][:-1]
    assert fleet_units and result.units[-1].after == tuple(fleet_units)


def test_a_group_that_is_not_read_plans_no_refresh(tmp_path: Path) -> None:
    broken = replace(fleet_of([on(1, "6")]), error="does not exist")
    result = planned(refresh_desired(tmp_path), broken)
    assert all(u.id != "rollout:web/refresh" for u in result.units) and result.problems


def test_the_way_back_watches_no_alarm(tmp_path: Path) -> None:
    result = without_alarm_steps(planned(refresh_desired(tmp_path), fleet_of([on(1, "6"), on(2, "6")])))
    action = refresh_of(result)
    assert action.preferences.alarms == () and action.preferences.bake_time == 0
    assert "min healthy 50%, skip matching, auto rollback)" in action.reason
    assert action.reason.endswith("(rollback: no alarms, no bake)")


def test_a_single_instance_is_launched_before_it_is_terminated(tmp_path: Path) -> None:
    text = rotation_env(rotation=REFRESH).replace("minHealthy: 1", 'minHealthy: "100%"')
    desired = replace(desired_of(tmp_path, text), stacks=())
    action = refresh_of(planned(desired, fleet_of([on(1, "6")])))
    assert (action.preferences.min_healthy, action.preferences.max_healthy) == (100, 200)
    assert "max healthy 200%" in action.reason


def test_the_group_s_template_is_left_to_the_refresh(tmp_path: Path) -> None:
    """No UpdateAutoScalingGroup first (AWS sets the template once the refresh succeeds, and its
    AutoRollback goes back to the one before), no instance replaced by the reconciler, and a new
    instance on the old version is not abandoned: the refresh converges every one the hook holds."""
    fleet = replace(
        fleet_of([on(1, "6"), on(2, "6"), on(3, "6", "Pending:Wait")]),
        launch=ObservedLaunch(template="popcon-prod-lt:6", hook="present"),
    )
    result = planned(refresh_desired(tmp_path), fleet)
    kinds = [a.kind for a in result.actions]
    assert "instance_refresh" in kinds
    assert not {"set_launch_template", "rotate_instance", "complete_launch"} & set(kinds)
    assert refresh_of(result).instances == (instance(1).id, instance(2).id, instance(3).id)


def test_a_version_that_does_not_exist_is_a_problem_and_no_refresh(tmp_path: Path) -> None:
    fleet = replace(fleet_of([on(1, "6")]), launch=ObservedLaunch(missing_version="popcon-prod-lt 7"))
    result = planned(refresh_desired(tmp_path), fleet)
    assert all(u.id != "rollout:web/refresh" for u in result.units)
    assert any("popcon-prod-lt 7 does not exist" in p.message for p in result.problems)
