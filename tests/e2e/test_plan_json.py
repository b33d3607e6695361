"""`reconciler plan --format json` on the sandbox: every document the CLI prints matches specs/plan.schema.json."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from planschema import assert_valid

from e2e.conftest import EnvFactory
from e2e.test_cli import run

pytestmark = pytest.mark.world


def _plan_json(result_stdout: str) -> dict[str, Any]:
    document = json.loads(result_stdout)
    assert isinstance(document, dict)
    assert_valid(document)
    return document


def test_dev_plan_json_matches_the_schema(make_env: EnvFactory) -> None:
    env = make_env("dev")
    result = run(env, "plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = _plan_json(result.stdout)
    assert document["resource_changes"] and not document["problems"]

    # a plan with a problem (a tag that does not exist) is a valid document too
    env.copy.edit("Images", None, lambda spec: spec["images"]["frontend"].__setitem__("tag", "9.9.9"))
    blocked = run(env, "plan", "--format", "json")
    assert blocked.returncode == 1
    assert _plan_json(blocked.stdout)["problems"]


def test_prod_plan_json_matches_the_schema(make_env: EnvFactory) -> None:
    env = make_env("examples/static-hosts")
    secret = "pr0d-schema-" + os.urandom(4).hex()
    result = run(env, "plan", "--format", "json", extra_env={"POPCON_PROD_DB_PASSWORD": secret})
    assert result.returncode == 0, result.stderr
    document = _plan_json(result.stdout)
    assert secret not in result.stdout
    hosts = {change["host"] for change in document["resource_changes"]}
    assert {"web-1", "web-2"} <= hosts
