"""The rotation fields of a fleet's spec: ``launchTemplate`` on a fleet host entry, ``rotation``,
``launchHook`` and ``replaceUnhealthy`` in ``spec.rollout``, read into the desired state, and every wrong
value a ``file:line: field: message`` error (spec reading is pure: no AWS or Docker involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import SpecError
from reconciler.core.model import DesiredState
from reconciler.core.rotation import LaunchHookSpec, LaunchTemplateRef, Rotation, UnhealthyReplacement
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment
from tests.fleet.test_fleet_spec import fleet_env, make_env

TEMPLATE = '      launchTemplate: {name: popcon-prod-lt, version: "7"}\n'
ROTATION = (
    "    rotation: replace\n"
    "    launchHook: {name: reconciler-launch, timeout: 5m}\n"
    "    replaceUnhealthy: {unreachableTicks: 4}\n"
)
VARIABLES = '      variables: {FRONTEND_PORT: "3000"}\n'


def rotation_env(template: str = TEMPLATE, rotation: str = ROTATION) -> str:
    return fleet_env().replace(VARIABLES, VARIABLES + template) + rotation


def desired_of(tmp_path: Path, text: str) -> DesiredState:
    return build_desired(load_environment(make_env(tmp_path, text)), {"POPCON_PROD_DB_PASSWORD": "x"}.get)


def test_the_rotation_fields_are_read(tmp_path: Path) -> None:
    desired = desired_of(tmp_path, rotation_env())
    (web,) = desired.fleets
    assert web.fleet is not None and web.fleet.launch_template == LaunchTemplateRef("popcon-prod-lt", "7")
    assert desired.rollout.rotation is Rotation.REPLACE
    assert desired.rollout.launch_hook == LaunchHookSpec("reconciler-launch", 300.0)
    assert desired.rollout.replace_unhealthy == UnhealthyReplacement(4)


def test_the_defaults(tmp_path: Path) -> None:
    desired = desired_of(tmp_path, rotation_env(template="", rotation=""))
    assert desired.fleets[0].fleet is not None and desired.fleets[0].fleet.launch_template is None
    rollout = desired.rollout
    assert rollout.rotation is Rotation.REPLACE and rollout.launch_hook is None
    assert rollout.replace_unhealthy == UnhealthyReplacement(3)


@pytest.mark.parametrize(
    ("rotation", "hook", "unhealthy"),
    [
        ("    launchHook: {}\n    replaceUnhealthy: false\n", LaunchHookSpec("reconciler-launch", 600.0), None),
        (
            "    rotation: instanceRefresh\n    launchHook: {}\n    replaceUnhealthy: true\n",
            LaunchHookSpec("reconciler-launch", 600.0),
            UnhealthyReplacement(3),
        ),
    ],
)
def test_hook_defaults_and_switches(
    tmp_path: Path, rotation: str, hook: LaunchHookSpec | None, unhealthy: UnhealthyReplacement | None
) -> None:
    rollout = desired_of(tmp_path, rotation_env(rotation=rotation)).rollout
    assert rollout.launch_hook == hook and rollout.replace_unhealthy == unhealthy


@pytest.mark.parametrize("version", ["7", "07", "7"])
def test_a_version_may_be_a_number(tmp_path: Path, version: str) -> None:
    template = TEMPLATE.replace('"7"', version)
    fleet = desired_of(tmp_path, rotation_env(template=template)).fleets[0].fleet
    assert fleet is not None and fleet.launch_template == LaunchTemplateRef("popcon-prod-lt", "7")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('version: "7"', "version: $Latest"),
            "environment.yaml:17: spec.hosts.web.launchTemplate.version: '$Latest' is not a fixed version",
        ),
        (('version: "7"', 'version: "$Default"'), "launchTemplate.version: '$Default' is not a fixed version"),
        (('version: "7"', 'version: "0"'), "launchTemplate.version: '0' is not a version number"),
        (('version: "7"', "version: -2"), "launchTemplate.version: '-2' is not a version number"),
        (('version: "7"', 'version: "v7"'), "launchTemplate.version: 'v7' is not a version number"),
        (('version: "7"', "version: 7.5"), "launchTemplate.version: must be a version number"),
        (('version: "7"', "version: true"), "launchTemplate.version: must be a version number"),
        (("name: popcon-prod-lt", "name: 'lt'"), "launchTemplate.name: 'lt' is not a launch template name"),
        (("name: popcon-prod-lt", "name: 'bad name'"), "launchTemplate.name: 'bad name' is not a launch template"),
        (('{name: popcon-prod-lt, version: "7"}', "{name: popcon-prod-lt}"), "launchTemplate.version"),
        (('version: "7"}', 'version: "7", latest: true}'), "spec.hosts.web.launchTemplate.latest"),
        (
            ("rotation: replace", "rotation: rolling"),
            "environment.yaml:27: spec.rollout.rotation: must be 'replace' or 'instanceRefresh'",
        ),
        (
            ("launchHook: {name: reconciler-launch,", "launchHook: {name: 'bad hook',"),
            "environment.yaml:28: spec.rollout.launchHook.name: 'bad hook' is not a lifecycle hook name",
        ),
        (("timeout: 5m", "timeout: 10s"), "spec.rollout.launchHook.timeout: '10s' is out of range"),
        (("timeout: 5m", "timeout: 3h"), "spec.rollout.launchHook.timeout: '3h' is out of range"),
        (("timeout: 5m", "timeout: soon"), "spec.rollout.launchHook.timeout: 'soon' is not a duration"),
        (("timeout: 5m", "timeout: 300"), "spec.rollout.launchHook.timeout"),
        (
            ("replaceUnhealthy: {unreachableTicks: 4}", "replaceUnhealthy: {unreachableTicks: 0}"),
            "environment.yaml:29: spec.rollout.replaceUnhealthy.unreachableTicks",
        ),
        (("unreachableTicks: 4", "unreachableTicks: '4'"), "spec.rollout.replaceUnhealthy.unreachableTicks"),
        (("unreachableTicks: 4", "ticks: 4"), "spec.rollout.replaceUnhealthy.ticks"),
        (
            ("replaceUnhealthy: {unreachableTicks: 4}", "replaceUnhealthy: sometimes"),
            "spec.rollout.replaceUnhealthy: must be false, true or a mapping",
        ),
    ],
)
def test_bad_rotation_values_name_file_line_and_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    text = rotation_env().replace(*edit)
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert expected in str(caught.value)


def test_a_launch_template_needs_a_group(tmp_path: Path) -> None:
    text = rotation_env(rotation="").replace("      fromAutoScalingGroup: popcon-prod-asg\n", "")
    text = text.replace("{privateIp}", "10.0.1.1").split("  rollout:")[0]
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert "a launch template is for entries with fromAutoScalingGroup" in str(caught.value)


def test_prod_names_the_sandbox_template() -> None:
    from reconciler.sandbox.fleet.layout import GROUP
    from tests.fleet.test_fleet_spec import PROD

    desired = build_desired(load_environment(PROD), {"POPCON_PROD_DB_PASSWORD": "x"}.get)
    fleet = desired.fleets[0].fleet
    assert fleet is not None and fleet.launch_template is not None
    assert fleet.launch_template.name == GROUP.template
    assert fleet.launch_template.version == "1"
