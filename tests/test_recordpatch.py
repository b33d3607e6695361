"""reconciler.core.patch: the direct record diff gives exactly jsonpatch.make_patch's operations.

jsonpatch is the oracle here (a dev dependency): the product does not import it.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import patch_arrays
from reconciler.core.patch import make_patch, pointer

#: Few keys and values, so that records share keys (replace), miss some (add/remove) and
#: hold equal values in different places (move); keys that need JSON Pointer escaping.
KEYS = st.sampled_from(["a", "b", "c", "a/b", "x~y", "~1", "~0/", "/", "~", "", "é"])
SCALARS = st.sampled_from(["1", 1, 1.0, True, False, None, "", "on", "(sensitive)", "a/b", 0])
LEAVES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2))
MAPS = st.dictionaries(KEYS, LEAVES, max_size=4)
VALUES = st.one_of(LEAVES, MAPS, st.dictionaries(KEYS, st.one_of(LEAVES, MAPS), max_size=3))
RECORDS = st.dictionaries(KEYS, VALUES, max_size=6)

#: Arrays: few distinct items (so that items repeat, move and match up by chance), of scalars,
#: of objects, of arrays, nested in objects and in each other.
ITEMS = st.sampled_from(["a", "b", "c", 1, True, None, 0, 1.0])
SMALL_MAPS = st.dictionaries(
    st.sampled_from(["a", "b", "0", "/"]), st.one_of(ITEMS, st.lists(ITEMS, max_size=3)), max_size=3
)
ARRAY_ITEMS = st.recursive(
    st.one_of(ITEMS, SMALL_MAPS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=2)),
    max_leaves=8,
)
ARRAYS = st.lists(ARRAY_ITEMS, max_size=7)
ARRAY_VALUES = st.one_of(SCALARS, ARRAYS, st.dictionaries(KEYS, st.one_of(SCALARS, ARRAYS), max_size=3))
ARRAY_RECORDS = st.dictionaries(KEYS, ARRAY_VALUES, min_size=1, max_size=4)


def expected(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, object]]:
    return list(jsonpatch.make_patch(copy.deepcopy(before), copy.deepcopy(after)).patch)


def assert_as_jsonpatch(before: dict[str, Any], after: dict[str, Any]) -> None:
    """make_patch gives jsonpatch's operations, and they take ``before`` to ``after``."""
    ops = make_patch(before, after)
    assert ops == expected(before, after)
    assert jsonpatch.apply_patch(copy.deepcopy(before), ops) == after


@settings(max_examples=1500, deadline=None)
@given(RECORDS, RECORDS)
def test_same_operations_as_jsonpatch(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert_as_jsonpatch(before, after)


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


@settings(max_examples=800, deadline=None)
@given(ARRAY_RECORDS, ARRAY_RECORDS)
def test_same_operations_as_jsonpatch_on_arrays(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert_as_jsonpatch(before, after)


def edit(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """``value`` with a few array items added, removed, moved or changed, in it or in its members."""
    if isinstance(value, dict):
        return {k: edit(v, data, depth + 1) if data.draw(st.booleans()) else v for k, v in value.items()}
    if not isinstance(value, list):
        return value
    items = [edit(v, data, depth + 1) if depth < 3 and data.draw(st.booleans()) else v for v in value]
    for _ in range(data.draw(st.integers(0, 3))):
        choice = data.draw(st.sampled_from(["add", "copy", "remove", "move", "change", "reverse"]))
        if choice in ("add", "copy"):
            item = data.draw(st.sampled_from(items)) if choice == "copy" and items else data.draw(ARRAY_ITEMS)
            items.insert(data.draw(st.integers(0, len(items))), copy.deepcopy(item))
        elif items and choice == "reverse":
            items.reverse()
        elif items:
            index = data.draw(st.integers(0, len(items) - 1))
            item = items.pop(index)
            if choice == "move":
                items.insert(data.draw(st.integers(0, len(items))), item)
            elif choice == "change":
                items.insert(index, data.draw(ARRAY_ITEMS))
    return items


@settings(max_examples=800, deadline=None)
@given(ARRAY_RECORDS, st.data())
def test_same_operations_on_array_edits(before: dict[str, Any], data: st.DataObject) -> None:
    """``after`` is ``before`` with items added to, removed from, moved within or changed in its arrays."""
    assert_as_jsonpatch(before, edit(copy.deepcopy(before), data))


def test_arrays_are_matched_up_item_by_item(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonpatch", None)  # the product does not need it
    before = {"ids": ["a", "b", "c"], "ports": [{"p": 80}, {"p": 443}], "x": 1}
    after = {"ids": ["b", "c", "d"], "ports": [{"p": 443}, {"p": 80, "tls": True}], "x": 2}
    ops = make_patch(before, after)
    monkeypatch.undo()
    assert ops == expected(before, after)
    assert ops[:2] == [{"op": "remove", "path": "/ids/0"}, {"op": "add", "path": "/ids/2", "value": "d"}]


def test_long_arrays_and_many_inserts_in_one_place() -> None:
    """Past the exact-matching limit, and enough items inserted at one index to relabel the array."""
    before = {"l": list(range(600)), "m": [[0, 1, 2] * 200]}
    after = {"l": [*range(0, 600, 2), *range(1, 600, 2)], "m": [[2, 1, 0] * 201]}
    assert make_patch(before, after) == expected(before, after)
    ours, theirs = patch_arrays.ArrayItems(), jsonpatch._ArrayItems()
    for n in range(40):
        for items in (ours, theirs):
            items.insert(1 if n % 3 else len(items.present))
    assert [i.index() for i in ours.items] == [i.index() for i in theirs.items]
    assert [i.label for i in ours.items] == [i.label for i in theirs.items]


def test_pointer_escapes_tilde_before_slash() -> None:
    assert pointer(("a/b", "~1", "")) == "/a~1b/~01/"
    assert pointer(()) == ""
