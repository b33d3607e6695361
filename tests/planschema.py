"""The plan JSON schema (specs/plan.schema.json) for tests: load it, validate documents against it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "specs" / "plan.schema.json"


@cache
def schema() -> dict[str, Any]:
    loaded = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def errors(document: object) -> list[str]:
    """Every violation of the schema, as ``path: message`` (empty: valid)."""
    found = sorted(validator().iter_errors(document), key=lambda e: list(e.absolute_path).__repr__())
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in found]


def assert_valid(document: object) -> None:
    problems = errors(document)
    assert not problems, "the plan JSON does not match specs/plan.schema.json:\n" + "\n".join(problems[:20])
