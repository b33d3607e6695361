"""Golden files: the plan of a fixed two-host scenario in every format, byte for byte.

``tests/golden/plan_two_hosts.{json,txt,md}`` are what ``reconciler plan
--format json|text|markdown`` prints for :data:`DESIRED` / :data:`OBSERVED`
(built with tests/planner/build.py: pure, no I/O). A change to the plan or a
renderer shows up here as a diff to review. After an intended change, run

    UPDATE_GOLDEN=1 python -m pytest tests/test_plan_golden.py

which rewrites the files and fails, so that the new goldens are reviewed
(``git diff tests/golden``) before they are committed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from planner.build import desired_state, observed_state

from reconciler.core.plan import Plan
from reconciler.planner import plan
from reconciler.render import render_json, render_markdown, render_text

GOLDEN = Path(__file__).parent / "golden"

#: Values of the scenario's secrets: none may appear in any golden file.
SECRETS = ("G0lden-New-Pa55!", "G0lden-Old-Pa55!", "G0lden-R00t!", "G0lden-Pruned!")

#: Two hosts; stack popcon on both (web-1 first), stack admin on web-1 only.
#: popcon: DB_HOST and the DB_PASSWORD secret changed, backend's tag 2.2.0 moved
#: (both hosts run the old digest and lack the new one), redis stopped on web-2.
#: admin: its external ADMIN_TOKEN does not exist, so it is not planned.
#: /popcon/dev/OLD_FLAG is owned and no longer declared: pruned. popcon's migrate job runs on web-1
#: before its backend is recreated.
DESIRED: dict[str, Any] = {
    "hosts": ["web-1", "web-2"],
    "sets": {
        "config": {
            "path": "/popcon/dev",
            "prune": True,
            "parameters": {"DB_HOST": "db-2.internal", "LOG_LEVEL": "info"},
        },
        "secrets": {
            "path": "/popcon/dev/secrets",
            "prune": True,
            "parameters": {
                "DB_PASSWORD": {"type": "SecureString", "value": SECRETS[0]},
                "DB_ROOT_PASSWORD": {"type": "SecureString", "external": True},
            },
        },
        "admin": {
            "path": "/admin/dev",
            "parameters": {"ADMIN_TOKEN": {"type": "SecureString", "external": True}},
        },
    },
    "images": {
        "backend": {"repository": "popcon/backend", "tag": "2.2.0"},
        "redis": {"repository": "popcon/redis", "tag": "7.2"},
        "admin": {"repository": "popcon/admin", "tag": "1.0.0"},
    },
    "stacks": {
        "popcon": {
            "hosts": ["web-1", "web-2"],
            "parameter_sets": ["config", "secrets"],
            "networks": ["default"],
            "services": {
                "redis": {"image": "redis", "healthcheck": True},
                "backend": {
                    "image": "backend",
                    "variables": ["DB_HOST", "LOG_LEVEL"],
                    "environment_from": ["secrets"],
                    "depends_on": {"redis": "service_healthy"},
                },
            },
            "jobs": {"migrate": {"service": "backend", "command": ["./migrate.sh", "up"], "before": ["backend"]}},
        },
        "admin": {
            "hosts": ["web-1"],
            "parameter_sets": ["admin"],
            "services": {"admin": {"image": "admin", "variables": ["ADMIN_TOKEN"]}},
        },
    },
}

#: A backend container made from what SSM holds now and the digest 2.2.0 had before it moved.
_OLD_BACKEND: dict[str, Any] = {
    "stack": "popcon",
    "service": "backend",
    "image": "popcon/backend@b1",
    "hash": "as-observed-old-image",
}

OBSERVED: dict[str, Any] = {
    "parameters": {
        "/popcon/dev/DB_HOST": {"value": "db-1.internal", "owner": "popcon-dev", "version": 4},
        "/popcon/dev/LOG_LEVEL": {"value": "info", "owner": "popcon-dev", "version": 2},
        "/popcon/dev/OLD_FLAG": {"value": "on", "owner": "popcon-dev", "version": 1},
        "/popcon/dev/secrets/DB_PASSWORD": {
            "type": "SecureString",
            "value": SECRETS[1],
            "owner": "popcon-dev",
            "version": 7,
        },
        "/popcon/dev/secrets/DB_ROOT_PASSWORD": {"type": "SecureString", "value": SECRETS[2], "owner": None},
        "/popcon/dev/secrets/OLD_SECRET": {
            "type": "SecureString",
            "value": SECRETS[3],
            "owner": "popcon-dev",
            "version": 3,
        },
    },
    "registry": {"popcon/backend:2.2.0": "b2", "popcon/redis:7.2": "r1", "popcon/admin:1.0.0": "a1"},
    # web-1 (the first host): everything runs; backend on the old digest
    "local": ["popcon/backend@b1", "popcon/redis@r1"],
    "networks": {"popcon": ["default"]},
    "containers": [
        {**_OLD_BACKEND, "id": "c0ffee000001"},
        {"stack": "popcon", "service": "redis", "id": "c0ffee000002", "health": "healthy"},
    ],
    "hosts": {
        "web-2": {
            "local": ["popcon/backend@b1", "popcon/redis@r1"],
            "networks": {"popcon": ["default"]},
            "containers": [
                {**_OLD_BACKEND, "id": "beef00000001"},
                {"stack": "popcon", "service": "redis", "id": "beef00000002", "state": "exited"},
            ],
        },
    },
}

RENDERERS: dict[str, Callable[[Plan], str]] = {
    "json": render_json,
    "txt": lambda p: render_text(p, color=False, verbose=True),
    "md": render_markdown,
}


def golden_plan() -> Plan:
    desired = desired_state(DESIRED)
    return plan(desired, observed_state(OBSERVED, desired))


def golden_path(suffix: str) -> Path:
    return GOLDEN / f"plan_two_hosts.{suffix}"


def _rendered(suffix: str) -> str:
    text = RENDERERS[suffix](golden_plan())
    return text if text.endswith("\n") else text + "\n"  # as the CLI writes it


@pytest.mark.parametrize("suffix", sorted(RENDERERS))
def test_plan_matches_its_golden_file(suffix: str) -> None:
    path = golden_path(suffix)
    actual = _rendered(suffix)
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        pytest.fail(f"{path} was rewritten (UPDATE_GOLDEN is set): review it (git diff) and run again without it")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it, then review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"the plan no longer matches {path}; if intended: UPDATE_GOLDEN=1, review, commit"


def test_the_scenario_exercises_what_the_goldens_are_for() -> None:
    result = golden_plan()
    assert [u.id for u in result.units] == ["parameters", "stack:web-1/popcon", "stack:web-2/popcon", "prune"]
    assert result.units[2].after == ("stack:web-1/popcon",)
    assert result.units[1].needs == ("/popcon/dev/DB_HOST", "/popcon/dev/secrets/DB_PASSWORD")
    kinds = {(a.kind, a.address) for a in result.actions}
    assert ("pull_image", "image:web-2/popcon/backend") in kinds
    assert ("recreate_service", "service:web-1/popcon/backend") in kinds
    assert ("start_service", "service:web-2/popcon/redis") in kinds
    assert ("delete_parameter", "parameter:/popcon/dev/OLD_FLAG") in kinds
    assert [p.address for p in result.problems] == ["parameter:/admin/dev/ADMIN_TOKEN", "stack:admin"]
    assert {type(p).__name__ for p in result.preconditions} == {"ParameterVersion", "ProjectContainers"}


def test_no_secret_in_any_golden_file() -> None:
    for suffix in RENDERERS:
        text = golden_path(suffix).read_text(encoding="utf-8")
        assert "(sensitive)" in text
        for secret in SECRETS:
            assert secret not in text, f"{secret} in {golden_path(suffix).name}"
