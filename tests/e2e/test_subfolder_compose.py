"""A stack whose compose file sits two folders down, applied on the sandbox's real engine.

Compose's project directory is the compose file's own folder: a relative bind mount of a
file beside the compose file mounts that file (the container reads its content), not one
of the same name in the environment folder, and a second plan has nothing to do.
"""

from __future__ import annotations

from typing import Any

import docker
import pytest

from e2e.conftest import EnvFactory
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE
from reconciler.render import render_report

pytestmark = pytest.mark.world

COMPOSE_FILE = "deploy/compose/docker-compose.yml"


def test_a_relative_bind_mount_two_folders_down_mounts_the_file_beside_the_compose_file(
    make_env: EnvFactory, docker_api: docker.APIClient
) -> None:
    env = make_env("dev")
    beside = env.root / "deploy" / "compose"
    beside.mkdir(parents=True)
    (env.root / "docker-compose.yml").rename(beside / "docker-compose.yml")
    env.copy.edit("ComposeStack", None, lambda spec: spec.__setitem__("composeFile", COMPOSE_FILE))
    message = f"beside the compose file, {env.copy.uid}\n"
    (beside / "message.txt").write_text(message)
    (env.root / "message.txt").write_text("the environment folder's file: the wrong one\n")

    def mount(data: Any) -> None:
        data["services"]["redis"].setdefault("volumes", []).append("./message.txt:/srv/message.txt:ro")

    env.copy.edit_compose(mount)

    first = env.reconcile()
    assert first.report is not None and first.report.ok, render_report(first.report)
    (unit,) = [u for u in first.plan.plan.units if u.compose is not None]
    assert unit.compose is not None and unit.compose.project_dir == beside.resolve()

    (redis,) = docker_api.containers(
        filters={"label": [f"{COMPOSE_PROJECT}={env.copy.project}", f"{COMPOSE_SERVICE}=redis"]}
    )
    mounts = {m["Destination"]: m["Source"] for m in docker_api.inspect_container(redis["Id"])["Mounts"]}
    assert mounts["/srv/message.txt"] == str((beside / "message.txt").resolve())
    run = docker_api.exec_create(redis["Id"], ["cat", "/srv/message.txt"])
    assert docker_api.exec_start(run["Id"]).decode() == message

    second = env.reconcile(apply=False)
    assert not second.plan.plan.actions and not second.plan.plan.problems
