"""RFC 6902 patches between JSON records, computed directly. Pure.

:func:`make_patch` gives exactly the operations ``jsonpatch.make_patch`` gives
(same operations, same order, ``move`` where a value is removed in one place and
added in another), for records whose members are scalars, objects or arrays
that are added, removed, replaced by a non-array or unchanged: every record a
plan holds (parameters, images, services with their variables, labels).
jsonpatch replays its operations through a general engine and deep-copies
them, which costs about 0.15 ms per record; this costs a few microseconds.
Two different arrays in the same place (which jsonpatch matches up item by
item) are left to jsonpatch itself, imported only then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

Op = dict[str, object]
Parts = tuple[str, ...]


class _Unsupported(Exception):
    """Two different arrays at the same place: jsonpatch's array matching is needed."""


def pointer(parts: Parts) -> str:
    """The JSON Pointer (RFC 6901) of ``parts``: ``~`` as ``~0``, ``/`` as ``~1``."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _move_key(value: object) -> str:
    """Equal for values equal in JSON (object members in any order); 1 and true differ."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return json.dumps(value)  # the cached default encoder: much cheaper than with options


class _Builder:
    """jsonpatch's DiffBuilder restricted to objects (arrays compared whole)."""

    def __init__(self) -> None:
        self.ops: dict[int, Op] = {}  # insertion-ordered; removing an op keeps the others' order
        self.parts: dict[int, tuple[Parts, Parts | None]] = {}  # op id -> (path, from)
        self.added: dict[str, list[int]] = {}  # move key -> add ops, newest last
        self.removed: dict[str, list[int]] = {}  # move key -> remove ops, newest last
        self._next = 0

    def _insert(self, op: Op, path: Parts, source: Parts | None = None) -> int:
        index = self._next
        self._next += 1
        self.ops[index] = op
        self.parts[index] = (path, source)
        return index

    def _take(self, storage: dict[str, list[int]], value: object) -> int | None:
        stored = storage.get(_move_key(value))
        return stored.pop() if stored else None

    def _drop(self, index: int) -> None:
        del self.ops[index]
        del self.parts[index]

    def removed_item(self, path: Parts, value: object) -> None:
        index = self._take(self.added, value)
        if index is not None:
            added = self.parts[index][0]
            self._drop(index)
            if added != path:  # else the removed item stays where the added one would be
                self._insert({"op": "move", "from": path, "path": added}, added, path)
            return
        index = self._insert({"op": "remove", "path": path}, path)
        self.removed.setdefault(_move_key(value), []).append(index)

    def added_item(self, path: Parts, value: object) -> None:
        index = self._take(self.removed, value)
        if index is not None:
            source = self.parts[index][0]
            if not (len(path) > len(source) and path[: len(source)] == source):  # not into its own child
                self._drop(index)
                if source != path:  # else the removed item stays where the added one would be
                    self._insert({"op": "move", "from": source, "path": path}, path, source)
                return
        index = self._insert({"op": "add", "path": path, "value": value}, path)
        self.added.setdefault(_move_key(value), []).append(index)

    def compare_dicts(self, path: Parts, src: Mapping[str, object], dst: Mapping[str, object]) -> None:
        for key in src:
            if key not in dst:
                self.removed_item((*path, str(key)), src[key])
        for key in dst:
            if key not in src:
                self.added_item((*path, str(key)), dst[key])
        for key in src:
            if key in dst:
                self.compare_values((*path, str(key)), src[key], dst[key])

    def compare_values(self, path: Parts, src: object, dst: object) -> None:
        if isinstance(src, str) and isinstance(dst, str):
            if src != dst:
                self._insert({"op": "replace", "path": path, "value": dst}, path)
        elif isinstance(src, Mapping) and isinstance(dst, Mapping):
            self.compare_dicts(path, src, dst)
        elif json.dumps(src) == json.dumps(dst):
            return
        elif isinstance(src, list) and isinstance(dst, list):
            raise _Unsupported
        else:
            self._insert({"op": "replace", "path": path, "value": dst}, path)

    def result(self) -> list[Op]:
        """The operations with their paths as pointers; a remove followed by an add at the
        same path is one replace (as jsonpatch writes it)."""
        items = list(self.ops.values())
        out: list[Op] = []
        i = 0
        while i < len(items):
            op = items[i]
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is not None and op["op"] == "remove" and nxt["op"] == "add" and op["path"] == nxt["path"]:
                out.append({"op": "replace", "path": pointer(_parts(nxt["path"])), "value": nxt["value"]})
                i += 2
                continue
            clean = dict(op)
            for member in ("from", "path"):
                if member in clean:
                    clean[member] = pointer(_parts(clean[member]))
            out.append(clean)
            i += 1
        return out


def _parts(value: object) -> Parts:
    assert isinstance(value, tuple)
    return value


def make_patch(before: Mapping[str, object], after: Mapping[str, object]) -> list[Op]:
    """The operations taking the JSON record ``before`` to ``after``, as jsonpatch.make_patch
    gives them. Values are shared with ``after``, not copied."""
    if not before:  # a creation: every member added, in order (nothing to move)
        return [{"op": "add", "path": pointer((str(k),)), "value": v} for k, v in after.items()]
    if not after:  # a deletion: every member removed, in order
        return [{"op": "remove", "path": pointer((str(k),))} for k in before]
    builder = _Builder()
    try:
        builder.compare_dicts((), before, after)
    except _Unsupported:
        import jsonpatch

        return list(jsonpatch.make_patch(dict(before), dict(after)).patch)
    return builder.result()
