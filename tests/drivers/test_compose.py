"""drivers/compose and override.py through the real Compose v2 binary and engine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import docker
import pytest

from drivers.worldkit import PushedImage
from reconciler.core.errors import WorldError
from reconciler.core.model import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    CONFIG_HASH_KEY,
    OWNER_KEY,
    STACK_KEY,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
)
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.planner.override import render_override

pytestmark = pytest.mark.world

TRICKY = {
    "SPACES": "a b  c",
    "QUOTES": "it's \"quoted\" and 'single'",
    "HASH": "value # not a comment",
    "DOLLAR": "$HOME ${HOME} $$ \\$x ${X:-default}",
    "EQUALS": "a=b=c",
    "NEWLINES": "line1\nline2\r\nline3",
    "BACKSLASH_END": "ends with \\",
    "BACKSLASH_N": "literal \\n not a newline",
    "TAB": "tab\there",
    "EMPTY": "",
    "UNICODE": "é ü 中 🐳",
    "LEADING": "  lead and trail  ",
    "SECRET": "p@ss'w\"o$rd`!\\",
}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_locate_compose_finds_v2() -> None:
    binary = locate_compose()
    out = subprocess.run([*binary, "version"], capture_output=True, text=True, check=True).stdout
    assert "v2." in out


def test_values_round_trip_through_compose_verbatim(tmp_path: Path, compose: ComposeRunner) -> None:
    services = "".join(f"      {k}: ${{{k}}}\n" for k in TRICKY)
    file = write(
        tmp_path / "docker-compose.yml", f"services:\n  a:\n    image: x\n    environment:\n{services}"
    )
    out = json.loads(compose.config("rt", tmp_path, [file], environment=TRICKY).text)
    got = out["services"]["a"]["environment"]
    # `config` re-escapes a literal $ as $$ so its output can be interpolated again
    assert {k: v.replace("$$", "$") for k, v in got.items()} == TRICKY


def test_config_reports_compose_warnings(tmp_path: Path, compose: ComposeRunner) -> None:
    file = write(
        tmp_path / "docker-compose.yml",
        'services:\n  a:\n    image: x\n    environment: {A: "${NOT_SET_HERE}", B: "${TOKEN}"}\n',
    )
    done = compose.config("warns", tmp_path, [file], environment={"TOKEN": "tok-s3cret"}, secrets=["tok-s3cret"])
    assert any('"NOT_SET_HERE" variable is not set' in w.replace("\\", "") for w in done.warnings), done.warnings
    assert json.loads(done.text)["services"]["a"]["environment"]["A"] == ""
    quiet = compose.config("quiet", tmp_path, [file], environment={"TOKEN": "t", "NOT_SET_HERE": "x"})
    assert quiet.warnings == ()


def test_shell_environment_does_not_leak_into_compose(tmp_path: Path) -> None:
    runner = ComposeRunner(
        locate_compose(),
        base_env={"PATH": os.environ["PATH"], "V": "from-shell", "COMPOSE_FILE": "/nope.yml"},
    )
    assert "V" not in runner.env and "COMPOSE_FILE" not in runner.env
    file = write(
        tmp_path / "docker-compose.yml", 'services:\n  a:\n    image: x\n    environment: {V: "${V}"}\n'
    )
    out = json.loads(runner.config("leak", tmp_path, [file], environment={"V": "from-the-spec"}).text)
    assert out["services"]["a"]["environment"]["V"] == "from-the-spec"


def test_a_dotenv_file_in_the_project_folder_is_not_read(tmp_path: Path, compose: ComposeRunner) -> None:
    write(tmp_path / ".env", "V=from-a-stray-file\nW=stray\n")
    file = write(
        tmp_path / "docker-compose.yml",
        'services:\n  a:\n    image: x\n    environment: {V: "${V}", W: "${W:-unset}"}\n',
    )
    out = json.loads(compose.config("dotenv", tmp_path, [file], environment={"V": "given"}).text)
    assert out["services"]["a"]["environment"] == {"V": "given", "W": "unset"}


def stack_spec(tmp_path: Path, project: str, file: Path) -> StackSpec:
    return StackSpec(
        name="web",
        project=project,
        compose_file=file,
        project_dir=tmp_path,
        services=(ServiceSpec(name="web", definition="{}", image=None, environment_from=("cfg",)),),
    )


def test_up_and_recreate_keep_compose_labels(
    tmp_path: Path,
    project: str,
    compose: ComposeRunner,
    docker_api: docker.APIClient,
    test_image: PushedImage,
) -> None:
    engine = DockerEngine(docker_api)
    file = write(
        tmp_path / "docker-compose.yml",
        "services:\n  web:\n    image: placeholder\n    stop_grace_period: 1s\n"
        "    environment: [FROM_FILE=1]\n",
    )
    spec = stack_spec(tmp_path, project, file)

    def apply(tag: str, config_hash: str, force: bool) -> dict[str, object]:
        override = render_override(
            spec,
            {"web": ServiceTarget(test_image.pinned(tag), config_hash)},
            "me",
            "test",
            {"web": ("GREETING",)},
        )
        over = write(tmp_path / "web.override.yml", json.dumps(override))
        compose.up(
            project, tmp_path, [file, over], "web", environment={"GREETING": "hello $USER"}, force_recreate=force
        )
        (container,) = engine.service_containers(project, "web")
        info = engine.inspect(container["Id"])
        assert info is not None
        return info

    first = apply("1", "hash-1", force=False)
    labels = first["Config"]["Labels"]
    assert labels[OWNER_KEY] == "me" and labels[CONFIG_HASH_KEY] == "hash-1" and labels[STACK_KEY] == "web"
    assert labels[COMPOSE_PROJECT] == project and labels[COMPOSE_SERVICE] == "web"
    assert "GREETING=hello $USER" in first["Config"]["Env"] and "FROM_FILE=1" in first["Config"]["Env"]
    assert first["Config"]["Image"] == test_image.pinned("1")

    again = apply("1", "hash-1", force=False)  # idempotent: same container
    assert again["Id"] == first["Id"]

    second = apply("2", "hash-2", force=True)
    assert second["Id"] != first["Id"]
    assert second["Config"]["Labels"][CONFIG_HASH_KEY] == "hash-2"
    assert second["Config"]["Image"] == test_image.pinned("2")

    ps = subprocess.run(
        [*compose.binary, "-p", project, "ps", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        env=compose.env,
    ).stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    assert [(r["Service"], r["State"]) for r in rows] == [("web", "running")]


def test_up_failure_is_a_world_error_with_masked_stderr(
    tmp_path: Path,
    project: str,
    compose: ComposeRunner,
    sandbox,  # type: ignore[no-untyped-def]
) -> None:
    secret = "Zs3cr3tZ"
    image = f"{sandbox.registry}/test-missing/{secret.lower()}@sha256:" + "0" * 64
    file = write(tmp_path / "docker-compose.yml", f"services:\n  web:\n    image: {image}\n")
    with pytest.raises(WorldError) as info:
        compose.up(project, tmp_path, [file], "web", environment={}, secrets={secret.lower()})
    message = str(info.value)
    assert message.startswith(f"compose {project}/web: docker compose up failed (exit ")
    assert secret.lower() not in message and "(sensitive)" in message
