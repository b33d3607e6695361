"""Instance rotation in the plan (pure): the group's launch template and hook set first, the instances
on another version replaced a batch at a time by the rollout's rules, the new instances a launch hook
holds converged before they serve (scale-out), a template version that does not exist a problem; the
plan that converges one replacement; the text and JSON forms."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from planschema import assert_valid

from fleet.test_fleet_spec import FLEET_ENV, GOOD_TG, make_env
from fleet.test_rollout_plan import fleet_of, instance, world
from reconciler.core.actions import ServiceAction
from reconciler.core.fleet_observed import ObservedFleet, ObservedInstance
from reconciler.core.launch_observed import ObservedLaunch
from reconciler.core.model import DesiredState
from reconciler.core.plan import Plan
from reconciler.core.rollout_actions import CheckAlarms, HealthGate, JoinTargetGroups, LeaveTargetGroups
from reconciler.core.rotation_actions import CompleteLaunch, PutLaunchHook, RotateInstance, SetLaunchTemplate
from reconciler.planner import plan
from reconciler.planner.launch import plan_new_instance
from reconciler.render.json import plan_document
from reconciler.render.text import render_text
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

V1, V2 = "popcon-prod-lt:1", "popcon-prod-lt:2"
HOOK = "    launchHook: {timeout: 5m}\n"


def desired_of(tmp_path: Path, version: str = "2", rollout: str = HOOK, batch: str = "1") -> DesiredState:
    text = FLEET_ENV.replace("BATCH", batch).replace("TARGET_GROUP", GOOD_TG).replace("SERVICE", "frontend")
    variables = '      variables: {FRONTEND_PORT: "3000"}\n'
    template = f'      launchTemplate: {{name: popcon-prod-lt, version: "{version}"}}\n'
    text = text.replace(variables, variables + template)
    return build_desired(load_environment(make_env(tmp_path, text + rollout)), {"POPCON_PROD_DB_PASSWORD": "x"}.get)


def on(template: str, n: int, lifecycle: str = "InService") -> ObservedInstance:
    return replace(instance(n, lifecycle), launch_template=template)


def fleet(
    instances: list[ObservedInstance], group: str = V1, hook: str = "present", missing: str = ""
) -> ObservedFleet:
    serving = [i for i in instances if i.lifecycle == "InService"]
    found = fleet_of(instances, states={i.id: "absent" for i in instances if i not in serving})
    return replace(found, launch=ObservedLaunch(template=group, hook=hook, missing_version=missing))


def planned(desired: DesiredState, observed: ObservedFleet) -> Plan:
    return plan(desired, world(desired, observed))


def units_of(result: Plan) -> dict[str, tuple[object, ...]]:
    return {u.id: u.actions for u in result.units}


def test_a_new_version_rotates_one_instance_at_a_time(tmp_path: Path) -> None:
    one, two = on(V1, 1), on(V1, 2)
    result = planned(desired_of(tmp_path), fleet([one, two]))
    assert not result.problems
    ids = [u.id for u in result.units]
    assert ids == [
        "parameters",
        "rollout:web/template",
        "rollout:web/1/leave",
        "rollout:web/1/rotate",
        "rollout:web/1/join",
        "rollout:web/2/leave",
        "rollout:web/2/rotate",
        "rollout:web/2/join",
        "rollout:web/bake",
    ]  # the replaced instances' own stacks are not planned: their replacements get them
    units = {u.id: u for u in result.units}
    (template,) = units["rollout:web/template"].actions
    assert isinstance(template, SetLaunchTemplate)
    assert (template.group, template.template, template.version, template.previous) == (
        "popcon-prod-asg", "popcon-prod-lt", "2", "popcon-prod-lt 1",
    )  # fmt: skip
    assert units["rollout:web/1/leave"].after == ("rollout:web/template",)
    (leave,) = units["rollout:web/1/leave"].actions
    assert isinstance(leave, LeaveTargetGroups) and leave.instance == one.id
    (rotate,) = units["rollout:web/1/rotate"].actions
    assert isinstance(rotate, RotateInstance) and rotate.instance == one.id
    assert (rotate.before, rotate.after, rotate.hook, rotate.launch_timeout) == ("1", "2", "reconciler-launch", 300.0)
    assert units["rollout:web/1/rotate"].after == ("rollout:web/1/leave",)
    (alarms,) = units["rollout:web/1/join"].actions  # the replacement's gate and join are the rotation's own
    assert isinstance(alarms, CheckAlarms)
    assert units["rollout:web/1/join"].after == ("rollout:web/1/leave", "rollout:web/1/rotate")
    text = render_text(result)
    assert "Rollout of fleet web, batch 1: replace the instances (new launch template):" in text
    assert f"-/+ instance:{one.id}  # launch template popcon-prod-lt 1 -> 2: terminated" in text
    assert "Fleet web: the Auto Scaling group's launch template and hook:" in text
    document = json.loads(json.dumps(plan_document(result)))
    assert_valid(document)
    counts = document["summary"]
    assert counts["replace"] == 2 and counts["change"] == 1  # two instances replaced, the group's template set


def test_batches_and_min_healthy_apply_to_a_rotation(tmp_path: Path) -> None:
    fleet_ = [on(V1, n) for n in range(1, 5)]
    result = planned(desired_of(tmp_path, batch='"50%"'), fleet(fleet_))
    units = units_of(result)
    assert [a.instance for a in units["rollout:web/1/rotate"]] == [fleet_[0].id, fleet_[1].id]  # type: ignore[attr-defined]
    assert [a.instance for a in units["rollout:web/2/rotate"]] == [fleet_[2].id, fleet_[3].id]  # type: ignore[attr-defined]
    assert "rollout:web/3/leave" not in units


def test_only_instances_on_another_version_are_rotated(tmp_path: Path) -> None:
    done, old = on(V2, 1), on(V1, 2)
    result = planned(desired_of(tmp_path), fleet([done, old], group=V2))
    units = units_of(result)
    assert "rollout:web/template" not in units  # the group launches the wanted version already
    rotated = [a.instance for u, actions in units.items() if u.endswith("/rotate") for a in actions]  # type: ignore[attr-defined]
    assert rotated == [old.id]
    assert f"stack:{done.id}/popcon" in units and f"stack:{old.id}/popcon" not in units


def test_the_same_version_rotates_nothing(tmp_path: Path) -> None:
    result = planned(desired_of(tmp_path, version="1"), fleet([on(V1, 1), on(V1, 2)]))
    assert not any(isinstance(a, RotateInstance | SetLaunchTemplate | PutLaunchHook) for a in result.actions)


def test_a_missing_hook_is_created_first(tmp_path: Path) -> None:
    result = planned(desired_of(tmp_path, version="1"), fleet([on(V1, 1)], hook="missing"))
    (hook,) = units_of(result)["rollout:web/template"]
    assert isinstance(hook, PutLaunchHook) and hook.hook == "reconciler-launch" and hook.timeout == 300.0
    assert hook.actions == ("create",) and "missing" in hook.reason


def test_a_version_that_does_not_exist_is_a_problem_and_nothing_rotates(tmp_path: Path) -> None:
    result = planned(desired_of(tmp_path, version="9"), fleet([on(V1, 1), on(V1, 2)], missing="popcon-prod-lt 9"))
    assert [(p.address, p.message.split(":")[0]) for p in result.problems] == [
        ("fleet:web", "launch template popcon-prod-lt 9 does not exist (DescribeLaunchTemplateVersions)")
    ]
    assert not any(isinstance(a, RotateInstance | SetLaunchTemplate) for a in result.actions)


def test_a_new_instance_held_by_the_hook_is_converged_before_it_serves(tmp_path: Path) -> None:
    """Scale-out: the group added an instance, the launch hook holds it in Pending:Wait; in one plan it
    gets every stack, the health gate, then CONTINUE; the instances in service are not touched."""
    one, two, new = on(V1, 1), on(V1, 2), on(V1, 3, lifecycle="Pending:Wait")
    result = planned(desired_of(tmp_path, version="1"), fleet([one, two, new]))
    assert not result.problems
    units = {u.id: u for u in result.units}
    assert f"stack:{new.id}/popcon" in units and f"rollout:web/launch/{new.id}" in units
    assert units[f"rollout:web/launch/{new.id}"].after == (f"stack:{new.id}/popcon",)
    gate, complete = units[f"rollout:web/launch/{new.id}"].actions
    assert isinstance(gate, HealthGate) and gate.url == f"http://{new.private_ip}:3000/health"
    assert isinstance(complete, CompleteLaunch) and complete.result == "CONTINUE" and complete.instance == new.id
    assert [r.name for r in complete.target_groups] == ["popcon-prod-tg"]
    order = [u.id for u in result.units]
    assert order.index(f"rollout:web/launch/{new.id}") < order.index("rollout:web/1/leave")  # before any batch
    leaving = [a.instance for a in units["rollout:web/1/leave"].actions]  # type: ignore[attr-defined]
    assert leaving == [one.id]
    assert_valid(json.loads(json.dumps(plan_document(result))))


def test_a_new_instance_on_another_version_is_abandoned(tmp_path: Path) -> None:
    """A rollback set the group back: an instance launched on the version rolled back is rejected."""
    one, stray = on(V1, 1), on(V2, 2, lifecycle="Pending:Wait")
    result = planned(desired_of(tmp_path, version="1"), fleet([one, stray]))
    units = units_of(result)
    (abandon,) = units["rollout:web/template"]
    assert isinstance(abandon, CompleteLaunch) and abandon.result == "ABANDON" and abandon.actions == ("delete",)
    assert f"stack:{stray.id}/popcon" not in units


def test_without_a_hook_pending_instances_are_left_alone(tmp_path: Path) -> None:
    one, pending = on(V1, 1), on(V1, 2, lifecycle="Pending:Wait")
    result = planned(desired_of(tmp_path, version="1", rollout=""), fleet([one, pending], hook=""))
    assert f"stack:{pending.id}/popcon" not in units_of(result)


def test_instance_refresh_rotates_nothing_here(tmp_path: Path) -> None:
    rollout = HOOK + "    rotation: instanceRefresh\n"
    result = planned(desired_of(tmp_path, rollout=rollout), fleet([on(V1, 1), on(V1, 2)]))
    assert not any(isinstance(a, RotateInstance) for a in result.actions)


def test_the_plan_of_one_replacement(tmp_path: Path) -> None:
    """What a rotation runs once the group launched the replacement: its stacks, the gate, CONTINUE; no
    parameter write (the rollout's own) and nothing on another instance."""
    desired = desired_of(tmp_path)
    old, new = on(V2, 1), on(V2, 3, lifecycle="Pending:Wait")
    observed = world(desired, fleet([old, new], group=V2))
    sub = plan_new_instance(desired, observed, "web", new.id)
    assert [u.id for u in sub.units] == [f"stack:{new.id}/popcon", f"rollout:web/launch/{new.id}"]
    assert not any(isinstance(a, ServiceAction) and a.needs for a in sub.actions)
    gate, complete = sub.units[-1].actions
    assert isinstance(gate, HealthGate) and isinstance(complete, CompleteLaunch) and complete.result == "CONTINUE"
    no_hook = desired_of(tmp_path / "nohook", rollout="")
    sub = plan_new_instance(no_hook, world(no_hook, fleet([old, on(V2, 3)], hook="")), "web", on(V2, 3).id)
    assert isinstance(sub.units[-1].actions[-1], JoinTargetGroups)
