"""specs/plan.schema.json: a valid JSON Schema that every plan document matches, and that catches wrong ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator
from planner.build import desired_state, observed_state
from planschema import assert_valid, errors, schema
from ruamel.yaml import YAML
from test_plan_golden import golden_path, golden_plan
from test_properties import PROPERTY_SETTINGS, worlds
from test_render import DESIRED, OBSERVED

from reconciler.core.plan import ACTION_TYPES, PLAN_FORMAT_VERSION, Plan
from reconciler.planner import plan
from reconciler.render.json import plan_document

CASES = sorted((Path(__file__).parent / "planner" / "cases").glob("*.yaml"))


def _properties(node: object, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (location, subschema) that defines a field: under ``properties``, outside the
    per-kind ``if``/``then``/``else`` rules (which only narrow fields defined elsewhere)."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{where}/properties/{name}", sub
        for key, value in node.items():
            if key not in ("if", "then", "else"):
                yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{where}/{i}")


def _described(sub: dict[str, Any]) -> bool:
    if "description" in sub:
        return True
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return "description" in schema()["$defs"][ref.removeprefix("#/$defs/")]
    return False


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema())


def test_every_property_is_described() -> None:
    # the schema is the public contract: each field says what it means (directly or through its $ref)
    undescribed = [where for where, sub in _properties(schema()) if not _described(sub)]
    assert undescribed == []


def test_the_schema_knows_every_action_kind_and_the_format_version() -> None:
    kinds = schema()["$defs"]["resource_change"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(t.kind for t in ACTION_TYPES)
    per_kind = [rule["if"]["properties"]["kind"]["const"] for rule in schema()["$defs"]["resource_change"]["allOf"]]
    assert sorted(per_kind) == sorted(kinds)
    assert schema()["properties"]["format_version"]["const"] == PLAN_FORMAT_VERSION


def test_the_golden_plan_validates() -> None:
    document = json.loads(golden_path("json").read_text(encoding="utf-8"))
    assert_valid(document)
    assert document == plan_document(golden_plan())


def test_the_render_scenario_validates() -> None:
    desired = desired_state(DESIRED)
    assert_valid(plan_document(plan(desired, observed_state(OBSERVED, desired))))


def test_an_empty_plan_validates() -> None:
    assert_valid(plan_document(Plan(environment="dev")))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_planner_case_validates(path: Path) -> None:
    case = YAML(typ="safe").load(path.read_text())
    desired = desired_state(case.get("desired") or {})
    assert_valid(plan_document(plan(desired, observed_state(case.get("observed") or {}, desired))))


@PROPERTY_SETTINGS
@given(worlds())
def test_plans_of_generated_worlds_validate(world: tuple[dict[str, Any], dict[str, Any]]) -> None:
    desired = desired_state(world[0])
    document = json.loads(json.dumps(plan_document(plan(desired, observed_state(world[1], desired)))))
    assert_valid(document)


# ---- a wrong document fails ----------------------------------------------


def _change(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in doc["resource_changes"] if c["kind"] == kind)
    return found


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "format_version 1.0": _set("format_version", "1.0"),
    "unknown top-level field": _set("extra", True),
    "summary missing": _delete("summary"),
    "summary count negative": _set("summary.add", -1),
    "unit field renamed": lambda d: d["units"][0].__setitem__("actions", d["units"][0].pop("addresses")),
    "unit id not a unit": _set("units.1.id", "stack:popcon"),
    "parameters unit with a host": _set("units.0.host", "web-1"),
    "compose variables not names": _set("units.1.compose.variables", ["DB_HOST=db-2"]),
    "unknown action verb": lambda d: _change(d, "put_parameter").__setitem__("actions", ["modify"]),
    "verb does not fit the kind": lambda d: _change(d, "recreate_service").__setitem__("actions", ["update"]),
    "unknown kind": lambda d: _change(d, "pull_image").__setitem__("kind", "push_image"),
    "address without host": lambda d: _change(d, "recreate_service").__setitem__("address", "service:popcon/backend"),
    "address of another kind": lambda d: _change(d, "start_service").__setitem__(
        "address", "parameter:/popcon/dev/DB_HOST"
    ),
    "details of another kind": lambda d: _change(d, "pull_image").__setitem__(
        "details", _change(d, "put_parameter")["details"]
    ),
    "details with a value": lambda d: _change(d, "put_parameter")["details"].__setitem__("value", "x"),
    "wait_for unknown": lambda d: _change(d, "start_service")["details"].__setitem__("wait_for", ["ready"]),
    "sensitive not a boolean": lambda d: _change(d, "put_parameter").__setitem__("sensitive", "no"),
    "after_sensitive true": lambda d: _change(d, "put_parameter")["change"].__setitem__("after_sensitive", True),
    "patch op unknown": lambda d: _change(d, "put_parameter")["change"]["patch"][0].__setitem__("op", "set"),
    "patch op sensitive false": lambda d: _change(d, "put_parameter")["change"]["patch"][0].__setitem__(
        "sensitive", False
    ),
    "patch replace without value": lambda d: _change(d, "put_parameter")["change"]["patch"][0].pop("value"),
    "change before a string": lambda d: _change(d, "put_parameter")["change"].__setitem__("before", "db-1"),
    "unchanged without reason": lambda d: d["unchanged"][0].pop("reason"),
    "problem with a reason": lambda d: d["problems"][0].__setitem__("reason", d["problems"][0].pop("message")),
    "precondition kind unknown": _set("preconditions.0.kind", "parameter_value"),
    "precondition version zero": _set("preconditions.0.version", 0),
    "containers as a count": lambda d: next(
        p for p in d["preconditions"] if p["kind"] == "project_containers"
    ).__setitem__("containers", 2),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_wrong_document_fails_validation(name: str) -> None:
    document = json.loads(golden_path("json").read_text(encoding="utf-8"))
    assert_valid(document)
    wrong = copy.deepcopy(document)
    MUTATIONS[name](wrong)
    assert wrong != document
    assert errors(wrong), f"{name}: the schema accepted it"
