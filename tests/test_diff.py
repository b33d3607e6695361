"""reconciler.core.diff: RFC 6902 patches and readable lines, secrets masked."""

from __future__ import annotations

from collections.abc import Iterator

import jsonpatch
import pytest

from reconciler.core.actions import Change
from reconciler.core.diff import entries, patch, sensitivity, text, to_jsonable
from reconciler.core.model import MASK, Sensitive


@pytest.fixture(autouse=True)
def no_reveal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """diff must never reveal a secret: make reveal() fail loudly."""

    def refuse(self: Sensitive) -> str:
        raise AssertionError("reconciler.core.diff called Sensitive.reveal()")

    monkeypatch.setattr(Sensitive, "reveal", refuse)
    yield


def test_patch_of_a_value_change_is_a_replace() -> None:
    change = Change("parameter:/a", {"type": "String", "value": "a"}, {"type": "String", "value": "b"})
    assert patch(change) == [{"op": "replace", "path": "/value", "value": "b"}]
    assert text(change) == ['~ value: "a" -> "b"']


def test_patch_applies_to_before_and_gives_after() -> None:
    before = {"type": "String", "value": "a", "nested": {"x": [1, 2], "y": "z"}}
    after = {"type": "StringList", "value": "a,b", "nested": {"x": [1, 3]}, "new": True}
    ops = patch(Change("x", before, after))
    assert jsonpatch.apply_patch(before, ops) == after


def test_create_and_delete_are_adds_and_removes() -> None:
    created = Change("parameter:/a", None, {"type": "String", "value": "v"})
    assert sorted(patch(created), key=lambda op: str(op["path"])) == [
        {"op": "add", "path": "/type", "value": "String"},
        {"op": "add", "path": "/value", "value": "v"},
    ]
    assert text(created) == ['+ type: "String"', '+ value: "v"']
    deleted = Change("parameter:/a", {"type": "String", "value": "v"}, None)
    assert sorted(str(op["path"]) for op in patch(deleted) if op["op"] == "remove") == ["/type", "/value"]
    assert text(deleted) == ['- type: "String"', '- value: "v"']


def test_a_changed_secret_is_an_operation_with_a_masked_value() -> None:
    change = Change(
        "parameter:/s",
        {"type": "SecureString", "value": Sensitive("old-secret")},
        {"type": "SecureString", "value": Sensitive("new-secret")},
    )
    assert patch(change) == [{"op": "replace", "path": "/value", "value": MASK, "sensitive": True}]
    assert text(change) == [f"~ value: {MASK} -> {MASK}"]


def test_an_unchanged_secret_is_no_operation() -> None:
    change = Change(
        "parameter:/s",
        {"type": "String", "value": Sensitive("same")},
        {"type": "SecureString", "value": Sensitive("same")},
    )
    assert patch(change) == [{"op": "replace", "path": "/type", "value": "SecureString"}]
    assert text(change) == ['~ type: "String" -> "SecureString"']


def test_secrets_inside_nested_values_are_masked() -> None:
    change = Change(
        "service:default/s/a",
        {"variables": {"A": "1"}},
        {"variables": {"A": "1", "PW": Sensitive("pw")}, "list": [Sensitive("x"), "y"]},
    )
    ops = patch(change)
    assert {"op": "add", "path": "/variables/PW", "value": MASK, "sensitive": True} in ops
    assert {"op": "add", "path": "/list", "value": [MASK, "y"], "sensitive": True} in ops
    assert text(change) == [f"+ variables.PW: {MASK}", f'+ list: [{MASK}, "y"]']


def test_entries_give_old_and_new_display_values() -> None:
    change = Change("x", {"a": "1", "gone": None}, {"a": "2", "b": True})
    assert [(e.op, e.key, e.old, e.new) for e in entries(change)] == [
        ("~", "a", '"1"', '"2"'),
        ("+", "b", None, "true"),
        ("-", "gone", "null", None),
    ]


def test_to_jsonable_masks_everywhere() -> None:
    data = {"a": Sensitive("s"), "b": [Sensitive("t"), {"c": Sensitive("u")}], "d": ("x", 1), "e": None}
    assert to_jsonable(data) == {"a": MASK, "b": [MASK, {"c": MASK}], "d": ["x", 1], "e": None}
    assert to_jsonable(Sensitive("s")) == MASK


def test_sensitivity_mirrors_masked_leaves() -> None:
    assert sensitivity({"type": "SecureString", "value": Sensitive("s")}) == {"value": True}
    assert sensitivity({"type": "String", "value": "v"}) is False
    assert sensitivity(None) is False
    assert sensitivity({"v": {"PW": Sensitive("s"), "X": "1"}}) == {"v": {"PW": True}}
