"""The `reconciler` command on the sandbox, run as a user runs it (a subprocess, no terminal).

Exit codes follow Terraform's --detailed-exitcode (0 no changes, 2 changes,
1 error); apply asks unless --auto-approve; every output format masks secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from planschema import assert_valid

from e2e.conftest import Env, EnvFactory
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, MASK

pytestmark = pytest.mark.world


def run(env: Env, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command, rest = args[0], args[1:]
    argv = [sys.executable, "-m", "reconciler.cli", command, str(env.root), "--sandbox",
            "--state-dir", str(env.state_dir), *rest]
    environ = {**os.environ, "NO_COLOR": "1", **(extra_env or {})}
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environ,
                          timeout=600, check=False)


def test_exit_codes_confirmation_and_formats(make_env: EnvFactory) -> None:
    env = make_env("dev")
    assert run(env, "plan").returncode == 0  # changes, but no --detailed-exitcode
    assert run(env, "plan", "--detailed-exitcode").returncode == 2

    refused = run(env, "apply")
    assert refused.returncode == 1
    assert "--auto-approve" in refused.stderr and "Traceback" not in refused.stderr
    assert env.ids() == {} and env.parameter("DB_HOST") is None  # nothing was changed

    as_json = run(env, "plan", "--format", "json")
    doc = json.loads(as_json.stdout)
    assert_valid(doc)
    assert doc["format_version"] == "2.3" and doc["environment"] == "dev"
    actions = {c["address"]: c["actions"] for c in doc["resource_changes"]}
    assert actions["service:default/popcon/backend"] == ["create"]
    assert actions[f"parameter:{env.name('DB_HOST')}"] == ["create"]

    markdown = run(env, "plan", "--format", "markdown").stdout
    assert "service:default/popcon/backend" in markdown and "|" in markdown

    applied = run(env, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete" in applied.stdout
    assert run(env, "plan", "--detailed-exitcode").returncode == 0

    status = run(env, "status")
    assert status.returncode == 0
    assert "backend" in status.stdout and "in sync" in status.stdout


def test_prod_secret_from_the_environment_is_masked_everywhere(make_env: EnvFactory) -> None:
    env = make_env("examples/static-hosts")
    secret = "pr0d-'$ecret-" + os.urandom(4).hex()
    with_secret = {"POPCON_PROD_DB_PASSWORD": secret}

    missing = run(env, "plan")
    assert missing.returncode == 1 and "POPCON_PROD_DB_PASSWORD" in missing.stderr

    outputs = []
    for fmt in ("text", "json", "markdown"):
        result = run(env, "plan", "--format", fmt, "--verbose" if fmt == "text" else "--detailed-exitcode",
                     extra_env=with_secret)
        assert result.returncode in (0, 2), result.stderr
        outputs.append(result.stdout + result.stderr)
    doc = json.loads(run(env, "plan", "--format", "json", extra_env=with_secret).stdout)
    assert_valid(doc)
    change = next(c for c in doc["resource_changes"] if c["address"] == f"parameter:{env.name('DB_PASSWORD')}")
    assert change["sensitive"] is True and change["change"]["after"]["value"] == MASK

    applied = run(env, "apply", "--auto-approve", extra_env=with_secret)
    assert applied.returncode == 0, applied.stderr
    outputs.append(applied.stdout + applied.stderr)
    assert env.parameter("DB_PASSWORD") == secret

    # a new secret value (rotated in CI) updates the parameter and recreates its readers
    before = env.ids()
    rotated = {"POPCON_PROD_DB_PASSWORD": secret + "-2"}
    plan = run(env, "plan", "--format", "json", extra_env=rotated)
    doc = json.loads(plan.stdout)
    assert_valid(doc)
    kinds = {c["address"]: c["kind"] for c in doc["resource_changes"]}
    assert kinds == {
        f"parameter:{env.name('DB_PASSWORD')}": "put_parameter",
        **{f"service:{h}/popcon/{s}": "recreate_service" for h in ("web-1", "web-2") for s in ("mysql", "backend")},
    }
    applied = run(env, "apply", "--auto-approve", extra_env=rotated)
    assert applied.returncode == 0, applied.stderr
    outputs += [plan.stdout, applied.stdout + applied.stderr]
    after = env.ids()  # web-1 runs on the main engine
    assert after["redis"] == before["redis"] and after["frontend"] == before["frontend"]
    assert after["backend"] != before["backend"]

    for text in outputs:
        assert secret not in text
    for value in env.secrets.values():
        assert all(value not in text for text in outputs)
    assert not list(Path(env.state_dir).rglob("*.env"))


def test_a_missing_image_tag_blocks_its_stack_only(make_env: EnvFactory) -> None:
    env = make_env("dev")
    env.copy.edit("Images", None, lambda spec: spec["images"]["frontend"].__setitem__("tag", "9.9.9"))

    plan = run(env, "plan", "--detailed-exitcode")
    assert plan.returncode == 1
    assert "tag 9.9.9 of" in plan.stdout and "not found in the registry" in plan.stdout

    applied = run(env, "apply", "--auto-approve")
    assert applied.returncode == 1
    assert "Traceback" not in applied.stderr
    assert "problem(s) block part of the plan" in applied.stderr
    assert env.parameter("DB_HOST") == "mysql"  # the parameters were not blocked by the stack's image
    assert env.ids() == {}  # the blocked stack was not touched

    env.copy.edit("Images", None, lambda spec: spec["images"]["frontend"].__setitem__("tag", "1.5.0"))
    fixed = run(env, "apply", "--auto-approve")
    assert fixed.returncode == 0, fixed.stderr
    assert set(env.ids()) == {"mysql", "redis", "backend", "frontend"}


def test_two_writers_the_second_waits_or_refuses_naming_the_holder(make_env: EnvFactory) -> None:
    from loop.holder import holder

    env = make_env("dev")
    proc = holder(env.state_dir, "dev", ttl=5)
    try:
        refused = run(env, "apply", "--auto-approve")
        assert refused.returncode == 1
        assert f"environment dev is held by reconciler apply (test holder) (pid {proc.pid} on " in refused.stderr
        assert "Traceback" not in refused.stderr
        assert env.ids() == {} and env.parameter("DB_HOST") is None  # nothing was changed
        bad = run(env, "apply", "--auto-approve", "--lock-timeout", "soon")
        assert bad.returncode == 1 and "is not a duration" in bad.stderr  # 2 means "changes present"
    finally:
        proc.kill()  # SIGKILL: no release; the lease expires within its 5 s TTL
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    waited = run(env, "apply", "--auto-approve", "--lock-timeout", "30s")
    assert waited.returncode == 0, waited.stderr
    assert set(env.ids()) == {"mysql", "redis", "backend", "frontend"}


def test_plan_verbose_names_a_lookalike_container_and_leaves_it_alone(
    make_env: EnvFactory, docker_api: docker.APIClient
) -> None:
    env = make_env("dev")
    assert run(env, "apply", "--auto-approve").returncode == 0
    before = env.ids()
    # the project's and a service's Compose labels, set by hand: Compose did not make this container
    name = f"{env.copy.project}-redis-by-hand"
    labels = {COMPOSE_PROJECT: env.copy.project, COMPOSE_SERVICE: "redis"}
    made = docker_api.create_container(image=env.containers()["redis"]["Image"], name=name, labels=labels)
    docker_api.start(made["Id"])
    address = f"container:default/popcon/{name}"
    why = (
        f"container {name} on default carries project {env.copy.project}'s labels (service redis) "
        "but was not made by Compose: left alone"
    )

    text = run(env, "plan", "--verbose", "--detailed-exitcode")
    assert text.returncode == 0, text.stdout + text.stderr  # nothing to do
    assert f"    = {address}  # {why}" in text.stdout.splitlines()

    doc = json.loads(run(env, "plan", "--format", "json").stdout)
    assert_valid(doc)
    assert {"address": address, "reason": why} in doc["unchanged"]
    assert doc["resource_changes"] == []

    markdown = run(env, "plan", "--format", "markdown").stdout
    assert f"| `{address}` | {why} |" in markdown

    applied = run(env, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert docker_api.inspect_container(made["Id"])["State"]["Running"]  # left alone
    found = docker_api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT}={env.copy.project}"})
    assert {str(c["Labels"][COMPOSE_SERVICE]): c["Id"] for c in found if c["Id"] != made["Id"]} == before
