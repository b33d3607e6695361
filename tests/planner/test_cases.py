"""Data-driven planner cases: tests/planner/cases/*.yaml -> plan -> expected actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from planner.build import desired_state, observed_state
from reconciler.planner import plan

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = _load(path)
    assert case.get("description"), f"{path.name}: every case says what it is about"
    desired = desired_state(case.get("desired") or {})
    observed = observed_state(case.get("observed") or {}, desired)
    result = plan(desired, observed)

    got = [[a.kind, a.address] for a in result.actions]
    assert got == case.get("expected_actions", []), "actions"
    assert [p.address for p in result.problems] == case.get("expected_problems", []), "problems"

    by_address = {a.address: a for a in result.actions}
    for address, fields in (case.get("expected_fields") or {}).items():
        action = by_address[address]
        for name, value in fields.items():
            actual = getattr(action, name)
            if isinstance(actual, tuple):
                actual = list(actual)
            assert actual == value, f"{address}.{name}"
    reasons = {a.address: a.reason for a in result.actions}
    reasons.update({u.address: u.reason for u in result.unchanged})
    reasons.update({p.address: p.message for p in result.problems})
    for address, fragment in (case.get("expected_reasons") or {}).items():
        assert address in reasons, f"{address} is in the plan"
        assert fragment in reasons[address], f"{address}: {reasons[address]!r}"
    unchanged = {u.address for u in result.unchanged}
    for address in case.get("expected_unchanged") or ():
        assert address in unchanged, f"{address} listed as unchanged"
