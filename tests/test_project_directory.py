"""A compose file in a subfolder: its relative paths resolve where Compose resolves them.

Compose's project directory is the compose file's own folder unless ``--project-directory``
(a ComposeStack's ``projectDirectory``) says otherwise. For a compose file one and two
folders down, and with ``projectDirectory``, the stack's project directory, our reading of
its relative paths, ``validate`` (Compose's offline check, as the reconciler runs it) and the
plan's Compose project agree with ``docker compose config`` run the way a user runs it. Real
Compose v2, real files; no engine.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from planner.build import observed_state
from spec.spec_helpers import copy_valid

from reconciler.app.compose_check import check_compose_files
from reconciler.core.errors import SpecError
from reconciler.core.model import DesiredState, StackSpec
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.planner import plan
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

COMPOSE = """\
services:
  web:
    image: busybox:latest
    env_file: [app.env]
    volumes:
      - ./config.txt:/etc/app/config.txt:ro
      - type: bind
        source: ../shared
        target: /srv/shared
      - data:/data
    build: {context: ., dockerfile: Dockerfile}
volumes:
  data: {}
"""

STACK = """\
apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata:
  name: app
spec:
  composeFile: {compose_file}
{extra}"""


def make_env(root: Path, compose_file: str, project_directory: str | None = None) -> Path:
    """An environment whose one stack runs ``compose_file``; an ``app.env`` and a ``config.txt``
    in the environment folder, the compose file's folder and the project directory, each
    saying where it is (so whichever Compose reads tells)."""
    env = copy_valid(root / "env", **{"docker-compose.yml": None})
    extra = f"  projectDirectory: {project_directory}\n" if project_directory is not None else ""
    (env / "stack.yaml").write_text(STACK.format(compose_file=compose_file, extra=extra))
    compose = env / compose_file
    compose.parent.mkdir(parents=True, exist_ok=True)
    compose.write_text(COMPOSE)
    for folder in {env, compose.parent, env / (project_directory or ".")}:
        folder.mkdir(parents=True, exist_ok=True)
        where = PurePosixPath(os.path.relpath(folder, env)).as_posix()
        (folder / "app.env").write_text(f"LOADED_FROM={where}\n")
        (folder / "config.txt").write_text(f"config in {where}\n")
    return env


def desired(env: Path) -> DesiredState:
    return build_desired(load_environment(env), lambda _name: "x")


def compose_as_a_user_runs_it(env: Path, compose_file: str, project_directory: str | None) -> dict[str, object]:
    """``docker compose [--project-directory D] -f FILE config`` run from the environment folder."""
    flags = ["--project-directory", project_directory] if project_directory is not None else []
    done = subprocess.run(
        [*locate_compose(), "-p", "app", *flags, "-f", compose_file, "--env-file", os.devnull,
         "config", "--format", "json"],
        cwd=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


def resolved(config: dict[str, object]) -> tuple[list[str], object, object]:
    """What Compose resolved of service web: bind-mount sources, the env file it read, the build context."""
    services = config["services"]
    assert isinstance(services, dict)
    web = services["web"]
    binds = sorted(v["source"] for v in web["volumes"] if v["type"] == "bind")
    return binds, web["environment"]["LOADED_FROM"], web["build"]["context"]


def ours(env: Path, stack: StackSpec) -> tuple[list[str], object, object]:
    """The same, as the reconciler resolves the service's relative paths against its project directory."""
    (web,) = stack.services
    paths = {p: os.path.normpath(stack.project_dir / p) for p in web.host_paths}
    env_file = Path(paths["app.env"]).read_text().strip().removeprefix("LOADED_FROM=")
    binds = sorted(paths[p] for p in ("./config.txt", "../shared"))
    return binds, env_file, paths["."]


CASES = [
    pytest.param("app/compose.yaml", None, "app", id="one-folder-down"),
    pytest.param("app/deploy/compose.yaml", None, "app/deploy", id="two-folders-down"),
    pytest.param("app/deploy/compose.yaml", ".", ".", id="projectDirectory-the-environment-folder"),
    pytest.param("compose.yaml", "app/run", "app/run", id="projectDirectory-a-subfolder"),
]


@pytest.mark.parametrize(("compose_file", "project_directory", "expected"), CASES)
def test_validate_and_plan_agree_with_compose_on_the_resolved_paths(
    tmp_path: Path, compose_file: str, project_directory: str | None, expected: str
) -> None:
    env = make_env(tmp_path, compose_file, project_directory)
    state = desired(env)
    (stack,) = state.stacks
    assert stack.project_dir == env / expected
    assert stack.project_folder == expected

    truth = resolved(compose_as_a_user_runs_it(env, compose_file, project_directory))
    assert truth[1] == expected  # the env file of the project directory, not the environment folder's
    assert ours(env, stack) == truth

    runner = ComposeRunner(locate_compose())
    as_validated = runner.config(stack.project, stack.project_dir, [stack.compose_file], environment={})
    assert resolved(json.loads(as_validated.text)) == truth
    assert check_compose_files(state, lambda: runner)  # validate passes

    planned = plan(state, observed_state({}, state))
    (unit,) = [u for u in planned.units if u.compose is not None]
    assert unit.compose.project_dir == stack.project_dir
    assert unit.compose.compose_file == stack.compose_file


def test_an_env_file_only_in_the_environment_folder_is_refused(tmp_path: Path) -> None:
    # before, the environment folder was the project directory and this passed validate
    env = make_env(tmp_path, "app/deploy/compose.yaml")
    (env / "app" / "deploy" / "app.env").unlink()
    with pytest.raises(SpecError) as caught:
        check_compose_files(desired(env), lambda: ComposeRunner(locate_compose()))
    message = str(caught.value)
    assert "Compose refuses this file" in message and str(env / "app" / "deploy" / "app.env") in message


def test_a_missing_project_directory_is_a_spec_error(tmp_path: Path) -> None:
    env = make_env(tmp_path, "compose.yaml")
    (env / "stack.yaml").write_text(STACK.format(compose_file="compose.yaml", extra="  projectDirectory: gone\n"))
    with pytest.raises(SpecError) as caught:
        load_environment(env)
    assert "spec.projectDirectory: project directory 'gone' not found" in str(caught.value)
