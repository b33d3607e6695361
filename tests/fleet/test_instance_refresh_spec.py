"""``rotation: instanceRefresh`` in the spec: what AWS's StartInstanceRefresh would refuse, and the
launch hook it needs, are ``file:line: field: message`` errors before anything is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import SpecError
from reconciler.core.rotation import Rotation
from reconciler.spec.loader import load_environment
from tests.fleet.test_fleet_spec import make_env
from tests.fleet.test_rotation_spec import desired_of, rotation_env

REFRESH = "    rotation: instanceRefresh\n    launchHook: {timeout: 15m}\n"


def test_an_instance_refresh_rollout_is_read(tmp_path: Path) -> None:
    rollout = desired_of(tmp_path, rotation_env(rotation=REFRESH).replace("bake: 2m", "bake: 48h")).rollout
    assert rollout.rotation is Rotation.INSTANCE_REFRESH
    assert rollout.launch_hook is not None and rollout.launch_hook.timeout == 900.0
    assert rollout.bake == 48 * 3600


@pytest.mark.parametrize(
    ("rotation", "bake", "expected"),
    [
        ("    rotation: instanceRefresh\n", "2m", "spec.rollout.rotation: instanceRefresh needs launchHook"),
        (REFRESH, "49h", "spec.rollout.bake: 49h: an instance refresh bakes at most 48h"),
    ],
)
def test_what_aws_would_refuse_is_a_spec_error(tmp_path: Path, rotation: str, bake: str, expected: str) -> None:
    text = rotation_env(rotation=rotation).replace("bake: 2m", f"bake: {bake}")
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    message = str(caught.value)
    assert expected in message
    assert "environment.yaml:" in message.split(expected)[0].splitlines()[-1]


def test_a_long_bake_is_fine_for_the_reconciler_s_own_rotation(tmp_path: Path) -> None:
    text = rotation_env(rotation="    rotation: replace\n").replace("bake: 2m", "bake: 49h")
    rollout = desired_of(tmp_path, text).rollout
    assert rollout.bake == 49 * 3600
