"""reconciler.render: text, JSON and Markdown plans; secrets never shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from planner.build import desired_state, observed_state

from reconciler.core.actions import Change, PutParameter
from reconciler.core.model import MASK, Sensitive
from reconciler.core.plan import PARAMETERS_UNIT, Plan, Problem, Unchanged, Unit
from reconciler.planner import plan
from reconciler.render import render_json, render_markdown, render_status, render_text

SECRETS = ["N3w-Pa55w0rd!", "0ld-Pa55w0rd!", "Fr3sh-T0ken!", "R00t-Pa55!", "Pru3ned-S3cret!"]

DESIRED: dict[str, Any] = {
    "sets": {
        "config": {
            "path": "/popcon/dev",
            "prune": True,
            "parameters": {"DB_HOST": "db-new", "DB_PORT": "3306", "NEW_KEY": "hello"},
        },
        "secrets": {
            "path": "/popcon/dev/secrets",
            "prune": True,
            "parameters": {
                "DB_PASSWORD": {"type": "SecureString", "value": SECRETS[0]},
                "API_TOKEN": {"type": "SecureString", "value": SECRETS[2]},
                "DB_ROOT_PASSWORD": {"type": "SecureString", "external": True},
            },
        },
    },
    "images": {
        "backend": {"repository": "popcon/backend", "tag": "2.2.0"},
        "mysql": {"repository": "popcon/mysql", "tag": "8.0"},
        "broken": {"repository": "popcon/broken", "tag": "9.9"},
    },
    "stacks": {
        "popcon": {
            "parameter_sets": ["config", "secrets"],
            "networks": ["default"],
            "services": {
                "backend": {"image": "backend", "variables": ["DB_HOST"], "environment_from": ["secrets"]},
                "mysql": {"image": "mysql", "variables": ["DB_ROOT_PASSWORD"]},
            },
        },
        "other": {"services": {"app": {"image": "broken"}}},
    },
}

OBSERVED: dict[str, Any] = {
    "parameters": {
        "/popcon/dev/DB_HOST": {"value": "db-old", "owner": "popcon-dev"},
        "/popcon/dev/DB_PORT": {"value": "3306"},
        "/popcon/dev/secrets/DB_PASSWORD": {"type": "SecureString", "value": SECRETS[1], "owner": "x"},
        "/popcon/dev/secrets/DB_ROOT_PASSWORD": {"type": "SecureString", "value": SECRETS[3]},
        "/popcon/dev/secrets/OLD_SECRET": {
            "type": "SecureString",
            "value": SECRETS[4],
            "owner": "popcon-dev",
        },
    },
    "registry": {"popcon/backend:2.2.0": "b2", "popcon/mysql:8.0": "m1"},
    "local": ["popcon/backend@b1", "popcon/mysql@m1"],
    "networks": {"popcon": ["default"]},
    "containers": [
        {
            "id": "be",
            "stack": "popcon",
            "service": "backend",
            "image": "popcon/backend@b1",
            "hash": "as-observed-old-image",
        },
        {"id": "my", "stack": "popcon", "service": "mysql", "state": "exited"},
        {"id": "old", "stack": "popcon", "service": "worker"},
    ],
}


@pytest.fixture(scope="module")
def big_plan() -> Plan:
    desired = desired_state(DESIRED)
    return plan(desired, observed_state(OBSERVED, desired))


@pytest.fixture
def no_reveal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: Sensitive) -> str:
        raise AssertionError("a renderer called Sensitive.reveal()")

    monkeypatch.setattr(Sensitive, "reveal", refuse)
    yield


def test_the_example_plan_exercises_secrets(big_plan: Plan) -> None:
    kinds = {(a.kind, a.address) for a in big_plan.actions}
    assert ("put_parameter", "parameter:/popcon/dev/secrets/DB_PASSWORD") in kinds
    assert ("put_parameter", "parameter:/popcon/dev/secrets/API_TOKEN") in kinds
    assert ("delete_parameter", "parameter:/popcon/dev/secrets/OLD_SECRET") in kinds
    assert ("recreate_service", "service:default/popcon/backend") in kinds
    assert [p.address for p in big_plan.problems] == ["image:broken", "stack:other"]


@pytest.mark.parametrize(
    "render",
    [
        lambda p: render_text(p, color=False, verbose=True),
        lambda p: render_text(p, color=True, verbose=True),
        render_json,
        render_markdown,
    ],
    ids=["text", "text-color", "json", "markdown"],
)
def test_no_secret_appears_in_any_format(big_plan: Plan, render: Any, no_reveal: None) -> None:
    output = render(big_plan)
    assert isinstance(output, str) and output
    for secret in SECRETS:
        assert secret not in output
    assert MASK in output


def test_text_groups_problems_first_and_summarises(big_plan: Plan) -> None:
    out = render_text(big_plan, color=False)
    assert "\x1b[" not in out
    headings = ("Problems (2):", "Parameters:", "Stack popcon on host default (project dev-popcon):", "Prune")
    positions = [out.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "! image:broken: tag 9.9 of 127.0.0.1:5000/popcon/broken not found in the registry" in out
    assert "  ~ parameter:/popcon/dev/DB_HOST  # value changed" in out
    assert '~ value: "db-old" -> "db-new"' in out
    assert f"~ value: {MASK} -> {MASK}" in out
    assert "  + parameter:/popcon/dev/NEW_KEY  # not found" in out
    assert "-/+ service:default/popcon/backend  # image 127.0.0.1:5000/popcon/backend:2.2.0 now resolves" in out
    assert "variables changed: API_TOKEN, DB_HOST, DB_PASSWORD" in out
    assert "  - parameter:/popcon/dev/secrets/OLD_SECRET" in out
    assert "  ~ service:default/popcon/mysql  # container stopped (exited)" in out
    assert out.rstrip().endswith(
        "Plan: 3 to add, 3 to change, 1 to replace, 2 to destroy. 2 problem(s) must be fixed."
    )
    # unchanged only counted unless verbose
    assert f"{len(big_plan.unchanged)} unchanged." in out
    assert "value and type match" not in out
    verbose = render_text(big_plan, color=False, verbose=True)
    assert "= parameter:/popcon/dev/DB_PORT  # value and type match" in verbose


def test_text_in_color_has_ansi_styles(big_plan: Plan) -> None:
    out = render_text(big_plan, color=True)
    assert "\x1b[" in out
    assert "parameter:/popcon/dev/DB_HOST" in out


def test_no_changes_says_so() -> None:
    empty = Plan(environment="dev", unchanged=(Unchanged("parameter:/a", "value and type match"),))
    out = render_text(empty, color=False)
    assert "No changes. The world matches the spec." in out
    assert "1 unchanged." in out
    assert "No changes." in render_markdown(empty)
    assert json.loads(render_json(empty))["resource_changes"] == []


def test_json_document(big_plan: Plan) -> None:
    doc = json.loads(render_json(big_plan))
    assert doc["format_version"] == "2.3"
    assert doc["environment"] == "dev"
    assert doc["summary"] == {
        "add": 3,
        "change": 3,
        "replace": 1,
        "destroy": 2,
        "unchanged": len(big_plan.unchanged),
        "problems": 2,
    }
    changes = {c["address"]: c for c in doc["resource_changes"]}
    assert [c["address"] for c in doc["resource_changes"]] == [a.address for a in big_plan.actions]
    host = changes["parameter:/popcon/dev/DB_HOST"]
    assert host["kind"] == "put_parameter" and host["actions"] == ["update"]
    assert host["sensitive"] is False
    assert host["change"]["patch"] == [{"op": "replace", "path": "/value", "value": "db-new"}]
    assert host["change"]["before"] == {"type": "String", "value": "db-old"}
    pw = changes["parameter:/popcon/dev/secrets/DB_PASSWORD"]
    assert pw["sensitive"] is True
    assert "value" not in pw["details"] and pw["details"]["adopt"] is True
    assert pw["change"]["after"]["value"] == MASK
    assert pw["change"]["after_sensitive"] == {"value": True}
    assert {"op": "replace", "path": "/value", "value": MASK, "sensitive": True} in pw["change"]["patch"]
    backend = changes["service:default/popcon/backend"]
    assert backend["actions"] == ["delete", "create"]
    assert backend["change"]["after"]["variables"] == {
        "API_TOKEN": MASK,
        "DB_HOST": "db-new",
        "DB_PASSWORD": MASK,
    }
    assert backend["change"]["before"]["variables"] == {"DB_HOST": "db-old", "DB_PASSWORD": MASK}
    assert backend["change"]["before_sensitive"] == {"variables": {"DB_PASSWORD": True}}
    assert changes["parameter:/popcon/dev/secrets/OLD_SECRET"]["change"]["after"] is None
    assert {"address": "image:broken", "message": doc["problems"][0]["message"]} == doc["problems"][0]
    assert {"address": "parameter:/popcon/dev/DB_PORT", "reason": "value and type match"} in doc["unchanged"]


def test_markdown_has_summary_table_and_diffs(big_plan: Plan) -> None:
    md = render_markdown(big_plan)
    assert md.startswith("### Reconciler plan for `dev`")
    assert "**Plan: 3 to add, 3 to change, 1 to replace, 2 to destroy. 2 problem(s) must be fixed.**" in md
    assert "#### Problems" in md and "`image:broken`" in md
    assert "| `~` | `parameter:/popcon/dev/DB_HOST` | update | value changed |" in md
    assert "| `-/+` | `service:default/popcon/backend` | replace |" in md
    assert "<details><summary>Diffs</summary>" in md
    assert '```diff\n- value: "db-old"\n+ value: "db-new"\n```' in md
    assert f"- value: {MASK}\n+ value: {MASK}" in md
    assert f"<details><summary>{len(big_plan.unchanged)} unchanged</summary>" in md


def test_markdown_escapes_table_cells_and_fences() -> None:
    action = PutParameter(
        change=Change("parameter:/a", {"value": "x"}, {"value": "```|<b>"}),
        reason="value | changed <now>",
        name="/a",
        type="String",
        value="```|<b>",
        set_name="s",
        create=False,
        adopt=False,
        tags={},
    )
    unit = Unit(id=PARAMETERS_UNIT, actions=(action,))
    md = render_markdown(Plan(environment="dev", units=(unit,), problems=(Problem("p", "a|b"),)))
    assert "value \\| changed &lt;now&gt;" in md
    assert "a\\|b" in md
    fences = re.findall(r"^(`{3,})diff$", md, flags=re.M)
    assert fences == ["````"]


def test_status_shows_services_and_what_the_plan_would_do(monkeypatch: pytest.MonkeyPatch) -> None:
    desired = desired_state(DESIRED)
    observed = observed_state(OBSERVED, desired)
    the_plan = plan(desired, observed)  # the planner may reveal (config hash); the renderer may not

    def refuse(self: Sensitive) -> str:
        raise AssertionError("render_status called Sensitive.reveal()")

    monkeypatch.setattr(Sensitive, "reveal", refuse)
    out = render_status(the_plan, desired, observed, color=False)
    assert "Environment dev (owner popcon-dev)" in out
    assert "Parameters: 6 declared, 2 in sync, 4 to write, 1 to prune" in out
    assert re.search(r"mysql\s+exited\s+~ container stopped \(exited\)", out)
    assert re.search(r"worker\s+running\s+- not in the compose file", out)
    assert re.search(r"app\s+-\s+not planned", out)
    assert "not found in the registry" in out
    for secret in SECRETS:
        assert secret not in out
