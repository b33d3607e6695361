"""Diffs of one :class:`~reconciler.core.actions.Change`: RFC 6902 patches and readable lines. Pure.

Secret values never leave this module in clear: before diffing, every
:class:`Sensitive` is swapped for an opaque token (equal secrets get equal
tokens, so a changed secret still shows as an operation), and tokens become
:data:`~reconciler.core.model.MASK` in the result. Nothing here calls
``Sensitive.reveal()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath

from reconciler.core.actions import Change
from reconciler.core.model import MASK, Sensitive
from reconciler.core.patch import make_patch

_TOKEN_MARK = "\x00reconciler-sensitive\x00"


class _Tokens:
    """Sensitive -> opaque token, compared by value without revealing it."""

    def __init__(self) -> None:
        self._tokens: dict[Sensitive, str] = {}

    def token(self, value: Sensitive) -> str:
        if value not in self._tokens:
            self._tokens[value] = f"{_TOKEN_MARK}{len(self._tokens)}"
        return self._tokens[value]


def _is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_TOKEN_MARK)


def _plain(obj: object, tokens: _Tokens) -> object:
    """JSON-able copy of ``obj`` with Sensitive values as tokens."""
    if isinstance(obj, Sensitive):
        return tokens.token(obj)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, tokens) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v, tokens) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((_plain(v, tokens) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, PurePath):
        return str(obj)
    return str(obj)


def _unmask(obj: object) -> tuple[object, bool]:
    """Tokens -> MASK; also says whether any were found."""
    if _is_token(obj):
        return MASK, True
    if isinstance(obj, dict):
        found = False
        out: dict[str, object] = {}
        for k, v in obj.items():
            out[k], hit = _unmask(v)
            found = found or hit
        return out, found
    if isinstance(obj, list):
        items = [_unmask(v) for v in obj]
        return [v for v, _ in items], any(hit for _, hit in items)
    return obj, False


def to_jsonable(obj: object) -> object:
    """A JSON-able copy of ``obj`` with every Sensitive value as MASK."""
    return _unmask(_plain(obj, _Tokens()))[0]


def sensitivity(obj: object) -> object:
    """Terraform-style mirror of ``obj``: ``true`` where a value is masked.

    Mappings keep only keys with something masked; a value without secrets is
    ``false``.
    """
    if isinstance(obj, Sensitive):
        return True
    if isinstance(obj, Mapping):
        inner = {str(k): sensitivity(v) for k, v in obj.items()}
        kept = {k: v for k, v in inner.items() if v is not False}
        return kept or False
    if isinstance(obj, list | tuple):
        items = [sensitivity(v) for v in obj]
        return items if any(v is not False for v in items) else False
    return False


def patch(change: Change) -> list[dict[str, object]]:
    """RFC 6902 operations taking ``before`` to ``after`` (missing side = ``{}``).

    Computed on the real values (as opaque tokens), so a changed secret is an
    operation; its value is shown as MASK and the operation carries
    ``"sensitive": true``.
    """
    tokens = _Tokens()
    return _patch(_plain(change.before or {}, tokens), _plain(change.after or {}, tokens))


def _patch(before: object, after: object) -> list[dict[str, object]]:
    assert isinstance(before, dict) and isinstance(after, dict)
    ops: list[dict[str, object]] = []
    for op in make_patch(before, after):
        clean = dict(op)  # op, path and from are pointers and names: only a value can hold a token
        if "value" in clean:
            clean["value"], sensitive = _unmask(clean["value"])
            if sensitive:
                clean["sensitive"] = True
        ops.append(clean)
    return ops


def change_document(change: Change) -> dict[str, object]:
    """``before``/``after`` (masked), their sensitivity and the patch: the ``change`` member of a
    plan JSON record, each side made JSON-able once."""
    tokens = _Tokens()
    before = _plain(change.before, tokens) if change.before is not None else None
    after = _plain(change.after, tokens) if change.after is not None else None
    return {
        "before": _unmask(before)[0],
        "after": _unmask(after)[0],
        "before_sensitive": sensitivity(change.before),
        "after_sensitive": sensitivity(change.after),
        "patch": _patch({} if before is None else before, {} if after is None else after),
    }


def _flatten(obj: object, prefix: str, out: dict[str, object]) -> None:
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = obj
        for key, value in obj.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = obj


def _show(value: object) -> str:
    if _is_token(value):
        return MASK
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_show(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@dataclass(frozen=True)
class Entry:
    """One changed leaf: op is ``+`` (added), ``-`` (removed) or ``~`` (changed).

    ``old``/``new`` are display strings (JSON-ish, secrets as MASK).
    """

    op: str
    key: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        if self.op == "+":
            return f"+ {self.key}: {self.new}"
        if self.op == "-":
            return f"- {self.key}: {self.old}"
        return f"~ {self.key}: {self.old} -> {self.new}"


def entries(change: Change) -> list[Entry]:
    """The changed leaves of ``change`` (nested keys dotted), after-order then removals."""
    tokens = _Tokens()
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    if change.before is not None:
        _flatten(_plain(change.before, tokens), "", before)
    if change.after is not None:
        _flatten(_plain(change.after, tokens), "", after)
    out: list[Entry] = []
    for key, new in after.items():
        if key not in before:
            out.append(Entry("+", key, None, _show(new)))
        elif before[key] != new:
            out.append(Entry("~", key, _show(before[key]), _show(new)))
    for key, old in before.items():
        if key not in after:
            out.append(Entry("-", key, _show(old), None))
    return out


def text(change: Change) -> list[str]:
    """Readable lines: ``+ key: value`` (added), ``- key: value`` (removed),
    ``~ key: old -> new`` (changed); nested keys dotted; secrets as MASK."""
    return [str(entry) for entry in entries(change)]
