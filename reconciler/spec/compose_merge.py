"""Merge compose service mappings as Compose does for ``extends`` and an ``include`` of several files. Pure.

:func:`merge_service` is Compose's merge of a base service with the service that extends it
(compose-go's ``override.ExtendService``, the same rules as an override file): mappings are
merged key by key, the later value winning for scalars; sequences are appended (``ports``,
``expose``, ``volumes``, ``secrets`` ...); ``environment``, ``labels``, ``annotations``,
``sysctls``, ``dns*``, ``tmpfs``, ``env_file`` and ``label_file`` are turned into sequences
and appended; ``extra_hosts`` too, without duplicates; ``depends_on`` and ``networks`` are
merged as mappings; ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced;
``build`` as a mapping (a string is its context); ``logging`` merged only when both name the
same driver (or one names none). Duplicates Compose removes afterwards (two ``ports`` alike,
``environment`` keys given twice) are left: what the reconciler reads of a service (its image,
healthcheck, dependencies, networks, named volumes and variables) does not depend on them, and
Compose's own ``config`` judges the rest.

:func:`rebase_paths` rewrites the relative host paths of a service written in another folder
(an included or extended file) so that they name the same place from the stack's project
directory, as Compose resolves them before merging.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast

_Merger = Callable[[object, object], object]

#: paths under a service where Compose's merge is special
_TO_SEQUENCE = frozenset(
    {"annotations", "dns", "dns_opt", "dns_search", "env_file", "label_file", "environment", "labels", "sysctls",
     "tmpfs"}
)  # fmt: skip
_REPLACED = frozenset({"command", "entrypoint"})
_STARTED = {"condition": "service_started", "required": True}


def merge_service(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """``override`` merged onto ``base`` (new data; neither argument is changed)."""
    return _merge_mappings(dict(base), override, ())


def _merge(base: object, other: object, path: tuple[str, ...]) -> object:
    special = _special(path)
    if special is not None:
        return special(base, other)
    if other is None:
        return base
    if isinstance(base, dict) and isinstance(other, dict):
        return _merge_mappings(dict(base), other, path)
    if isinstance(base, list) and isinstance(other, list):
        return [*base, *other]
    return other


def _merge_mappings(merged: dict[str, object], other: Mapping[str, object], path: tuple[str, ...]) -> dict[str, object]:
    for key, value in other.items():
        merged[key] = _merge(merged[key], value, (*path, key)) if key in merged else value
    return merged


def _special(path: tuple[str, ...]) -> _Merger | None:
    if len(path) == 1:
        key = path[0]
        if key in _TO_SEQUENCE:
            return lambda a, b: [*_sequence(a), *_sequence(b)]
        if key in _REPLACED:
            return lambda _a, b: b
        if key == "extra_hosts":
            return _merge_extra_hosts
        if key == "depends_on":
            return lambda a, b: _merge_mappings(_mapping(a, _STARTED), _mapping(b, _STARTED), path)
        if key == "networks":
            return lambda a, b: _merge_mappings(_mapping(a, None), _mapping(b, None), path)
        if key == "build":
            return lambda a, b: _merge_mappings(_build(a), _build(b), path)
        if key == "logging":
            return _merge_logging
    if path == ("healthcheck", "test"):
        return lambda _a, b: b
    if len(path) == 2 and path[0] == "build" and path[1] in ("args", "labels", "additional_contexts"):
        return lambda a, b: [*_sequence(a), *_sequence(b)]
    return None


def _sequence(value: object) -> list[object]:
    """Compose's ``convertIntoSequence``: a mapping as sorted ``KEY=value`` items (``KEY`` alone for null)."""
    if isinstance(value, dict):
        items: list[str] = []
        for key, item in value.items():
            if item is None:
                items.append(str(key))
            elif isinstance(item, list):
                items.extend(f"{key}={_text(v)}" for v in item)
            else:
                items.append(f"{key}={_text(item)}")
        return cast(list[object], sorted(items))
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return [value]
    return []


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(value: object, default: Mapping[str, object] | None) -> dict[str, object]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return {str(item): (dict(default) if default is not None else None) for item in value}
    return {}


def _build(value: object) -> dict[str, object]:
    if isinstance(value, str):
        return {"context": value}
    return dict(value) if isinstance(value, dict) else {}


def _merge_extra_hosts(base: object, other: object) -> object:
    first = _sequence(base)
    return [*first, *(item for item in _sequence(other) if item not in first)]


def _merge_logging(base: object, other: object) -> object:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return other if other is not None else base
    if "driver" in base and "driver" in other and base["driver"] != other["driver"]:
        return other
    return _merge_mappings(dict(base), other, ("logging",))


# ---- relative paths ---------------------------------------------------------------------------


def rebase_paths(raw: Mapping[str, object], written_in: Path, project_dir: Path) -> dict[str, object]:
    """The service mapping ``raw``, written with relative paths meaning ``written_in``, with those
    paths made relative to ``project_dir`` (``./`` first, so a bind source stays a path). A path
    that is absolute, starts with ``~`` or a variable, or names a URL is left as written."""
    if written_in == project_dir:
        return dict(raw)

    def move(path: str) -> str:
        if not path or path.startswith(("/", "~", "$")) or "://" in path or path.startswith("git@"):
            return path
        moved = os.path.relpath(os.path.normpath(written_in / path), project_dir)
        return moved if moved.startswith("..") else f"./{moved}" if moved != "." else "."

    out = dict(raw)
    if isinstance(out.get("volumes"), list):
        out["volumes"] = [_rebase_volume(entry, move) for entry in cast(list[object], out["volumes"])]
    for key in ("env_file", "label_file"):
        if key in out:
            out[key] = _rebase_files(out[key], move)
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = move(build)
    elif isinstance(build, dict) and isinstance(build.get("context", "."), str):
        out["build"] = {**build, "context": move(str(build.get("context", ".")))}
    extends = out.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        out["extends"] = {**extends, "file": move(str(extends["file"]))}
    return out


def _rebase_volume(entry: object, move: Callable[[str], str]) -> object:
    if isinstance(entry, str):
        source, sep, rest = entry.partition(":")
        return f"{move(source)}{sep}{rest}" if sep and source.startswith(".") else entry
    if isinstance(entry, dict) and entry.get("type") == "bind" and isinstance(entry.get("source"), str):
        return {**entry, "source": move(str(entry["source"]))}
    return entry


def _rebase_files(value: object, move: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return move(value)
    if isinstance(value, list):
        return [_rebase_file(item, move) for item in value]
    return value


def _rebase_file(item: object, move: Callable[[str], str]) -> object:
    if isinstance(item, str):
        return move(item)
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return {**item, "path": move(str(item["path"]))}
    return item
