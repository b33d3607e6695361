"""reconciler.core.patch: the direct record diff gives exactly jsonpatch.make_patch's operations."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.patch import make_patch, pointer

#: Few keys and values, so that records share keys (replace), miss some (add/remove) and
#: hold equal values in different places (move); keys that need JSON Pointer escaping.
KEYS = st.sampled_from(["a", "b", "c", "a/b", "x~y", "~1", "~0/", "/", "~", "", "é"])
SCALARS = st.sampled_from(["1", 1, 1.0, True, False, None, "", "on", "(sensitive)", "a/b", 0])
LEAVES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2))
MAPS = st.dictionaries(KEYS, LEAVES, max_size=4)
VALUES = st.one_of(LEAVES, MAPS, st.dictionaries(KEYS, st.one_of(LEAVES, MAPS), max_size=3))
RECORDS = st.dictionaries(KEYS, VALUES, max_size=6)


def expected(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, object]]:
    return list(jsonpatch.make_patch(copy.deepcopy(before), copy.deepcopy(after)).patch)


@settings(max_examples=1500, deadline=None)
@given(RECORDS, RECORDS)
def test_same_operations_as_jsonpatch(before: dict[str, Any], after: dict[str, Any]) -> None:
    ops = make_patch(before, after)
    assert ops == expected(before, after)
    assert jsonpatch.apply_patch(copy.deepcopy(before), ops) == after


@settings(max_examples=500, deadline=None)
@given(RECORDS, st.data())
def test_same_operations_on_small_edits(before: dict[str, Any], data: st.DataObject) -> None:
    """``after`` as a plan has it: ``before`` with a few members changed, added, removed or renamed."""
    after = copy.deepcopy(before)
    for _ in range(data.draw(st.integers(0, 4))):
        key = data.draw(KEYS)
        choice = data.draw(st.sampled_from(["set", "drop", "rename"]))
        if choice == "set":
            after[key] = data.draw(VALUES)
        elif key in after:
            value = after.pop(key)
            if choice == "rename":
                after[data.draw(KEYS)] = value
    assert make_patch(before, after) == expected(before, after)


def test_flat_records_as_a_plan_has_them() -> None:
    before = {"type": "String", "value": "db-1", "labels": {"a/b": "1", "x~y": "2", "gone": "3"}}
    after = {"type": "String", "value": "db-2", "labels": {"a/b": "1", "x~y": "4", "new": "3"}, "tag": "2.2"}
    ops = make_patch(before, after)
    assert ops == expected(before, after)
    assert {"op": "replace", "path": "/labels/x~0y", "value": "4"} in ops
    assert {"op": "move", "from": "/labels/gone", "path": "/labels/new"} in ops


def test_different_arrays_are_left_to_jsonpatch() -> None:
    before = {"ids": ["a", "b", "c"], "x": 1}
    after = {"ids": ["b", "c", "d"], "x": 2}
    assert make_patch(before, after) == expected(before, after)


def test_pointer_escapes_tilde_before_slash() -> None:
    assert pointer(("a/b", "~1", "")) == "/a~1b/~01/"
    assert pointer(()) == ""
