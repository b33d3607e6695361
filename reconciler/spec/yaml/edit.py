"""Set an Images entry's tag (and digest) in a YAML file's text, changing nothing else. Pure.

ruamel.yaml's round-trip loader finds where the entry's ``tag`` (``digest``, ``image``) value is
written; only that scalar is replaced in the text, in the quoting it had (``"1.4.0"`` stays
double-quoted, a plain value stays plain when it still reads as the same string), so comments,
order, flow or block style, indentation and line endings are the file's own and a byte diff
shows only the tag. A digest written beside a tag (``pinDigest``) is replaced, or inserted after
the tag (``, digest: ...`` in a flow mapping, a line of its own in a block one). The result is
read again and must hold the same data but for the fields set; anything else is a
:class:`EditError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from reconciler.core.errors import ReconcilerError
from reconciler.core.image_names import ImageNameError, parse_image

__all__ = ["EditError", "EntryValue", "entry_values", "quick_entry_values", "set_entries", "set_entry"]

_PLAIN_END = set(" \t\r\n,}]#")


class EditError(ReconcilerError):
    """The entry cannot be edited in place (not found, or not written in a form this edits)."""


@dataclass(frozen=True)
class EntryValue:
    """An Images entry's tag and digest as written."""

    tag: str | None
    digest: str | None


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def _documents(text: str, where: str) -> list[Any]:
    try:
        return list(_loader().load_all(io.StringIO(text)))
    except YAMLError as exc:
        raise EditError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None


def _entries(docs: list[Any]) -> Iterator[tuple[str, Any]]:
    """(name, entry) of every Images entry (round-trip maps, or plain dicts from the fast reader)."""
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "Images":
            continue
        spec = doc.get("spec")
        images = spec.get("images") if isinstance(spec, dict) else None
        if isinstance(images, dict):
            for name, entry in images.items():
                if isinstance(entry, dict):
                    yield str(name), entry


def entry_values(text: str, where: str = "images") -> dict[str, EntryValue]:
    """Every Images entry of ``text`` (all its documents) -> its tag and digest as written."""
    return _values(_documents(text, where))


def quick_entry_values(text: str) -> dict[str, EntryValue]:
    """:func:`entry_values` through the fast reader (libyaml; for reading many old versions of a file);
    an unreadable text has no entries."""
    from reconciler.core.errors import SpecError
    from reconciler.spec.source import parse_yaml

    try:
        docs = parse_yaml(text, Path("images.yaml"), "images.yaml", strict=False)
    except SpecError:
        return {}
    return _values([doc.data for doc in docs])


def _values(docs: list[Any]) -> dict[str, EntryValue]:
    out: dict[str, EntryValue] = {}
    for name, entry in _entries(docs):
        ref = entry.get("image")
        if isinstance(ref, str):
            try:
                parsed = parse_image(str(ref))
            except ImageNameError:
                continue
            out.setdefault(name, EntryValue(parsed.tag, parsed.digest))
        else:
            tag, digest = entry.get("tag"), entry.get("digest")
            out.setdefault(name, EntryValue(_text(tag), _text(digest)))
    return out


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) else None


def set_entry(text: str, entry_name: str, tag: str, digest: str | None = None, *, where: str = "images") -> str:
    """``text`` with entry ``entry_name`` set to ``tag`` (and ``digest``, when given)."""
    return set_entries(text, {entry_name: EntryValue(tag, digest)}, where=where)


def set_entries(text: str, wanted: Mapping[str, EntryValue], *, where: str = "images") -> str:
    """``text`` with each entry of ``wanted`` set to its tag (and digest, when given): read once, spliced,
    read again once to check."""
    docs = _documents(text, where)
    entries = dict(_entries(docs))
    offsets = _line_offsets(text)
    splices: list[tuple[int, int, str]] = []  # (start, end, replacement)
    for name, value in wanted.items():
        entry = entries.get(name)
        if entry is None:
            raise EditError(f"{where}: no Images entry named {name!r}")
        if value.tag is None:
            raise EditError(f"{where}: entry {name!r}: no tag to set")
        splices.extend(_splices(text, offsets, entry, name, value.tag, value.digest, where))
    new = text
    for start, end, replacement in sorted(splices, reverse=True):
        new = new[:start] + replacement + new[end:]
    _check(docs, _documents(new, where), wanted, where)
    return new


def _splices(
    text: str, offsets: list[int], entry: CommentedMap, name: str, tag: str, digest: str | None, where: str
) -> list[tuple[int, int, str]]:
    """Where and what to write in ``text`` for ``entry`` to hold ``tag`` (and ``digest``)."""
    if isinstance(entry.get("image"), str):
        start, end = _value_span(text, offsets, entry, "image")
        return [(start, end, _scalar_like(text[start:end], _with_tag(str(entry["image"]), tag, digest)))]
    if "tag" in entry:
        start, end = _value_span(text, offsets, entry, "tag")
        out = [(start, end, _scalar_like(text[start:end], tag))]
        if digest is not None and "digest" in entry:
            d_start, d_end = _value_span(text, offsets, entry, "digest")
            out.append((d_start, d_end, _scalar_like(text[d_start:d_end], digest)))
        elif digest is not None:
            at, inserted = _inserted_digest(text, offsets, entry, (start, end), digest)
            out.append((at, at, inserted))
        elif "digest" in entry:
            raise EditError(f"{where}: entry {name!r} pins a digest beside its tag: give the digest too")
        return out
    if "digest" in entry and digest is None:  # a digest-pinned entry gets a tag instead
        key_line, key_col = entry.lc.key("digest")
        _start, end = _value_span(text, offsets, entry, "digest")
        return [(offsets[key_line] + key_col, end, f"tag: {_scalar_like('', tag)}")]
    raise EditError(f"{where}: entry {name!r} has no tag to set")


def _line_offsets(text: str) -> list[int]:
    offsets, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        offsets.append(total)
    return offsets


def _value_span(text: str, offsets: list[int], entry: CommentedMap, key: str) -> tuple[int, int]:
    """Where the scalar value of ``key`` is written in ``text``: [start, end)."""
    line, col = entry.lc.value(key)
    start = offsets[line] + col
    quote = text[start : start + 1]
    if quote == '"':
        i = start + 1
        while i < len(text) and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        return start, i + 1
    if quote == "'":
        i = start + 1
        while i < len(text):
            if text[i] == "'" and text[i + 1 : i + 2] == "'":
                i += 2
            elif text[i] == "'":
                break
            else:
                i += 1
        return start, i + 1
    i = start
    while i < len(text) and text[i] not in _PLAIN_END:
        i += 1
    return start, i


def _reads_as(value: str) -> object:
    try:
        return YAML(typ="safe", pure=True).load(f"k: {value}\n").get("k")
    except (YAMLError, AttributeError):
        return None


def _scalar_like(old: str, value: str) -> str:
    """``value`` written in the quoting of ``old`` (plain only where it reads back as itself)."""
    if old.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    if old.startswith('"') or _reads_as(value) != value or any(c in value for c in " #,{}[]"):
        return json.dumps(value)
    return value


def _with_tag(reference: str, tag: str, digest: str | None) -> str:
    base = reference.partition("@")[0]
    head, slash, last = base.rpartition("/")
    name = head + slash + last.partition(":")[0]
    return f"{name}:{tag}" + (f"@{digest}" if digest else "")


def _inserted_digest(
    text: str, offsets: list[int], entry: CommentedMap, tag_span: tuple[int, int], digest: str
) -> tuple[int, str]:
    """Where and what to insert for a digest beside the tag: after the tag in a flow mapping (quoted as
    the tag is), else a line of its own after the tag's line (a comment there stays where it is)."""
    start, end = tag_span
    value = _scalar_like(text[start:end], digest)
    if entry.fa.flow_style():
        return end, f", digest: {value}"
    _line, key_col = entry.lc.key("tag")
    line_end = text.find("\n", end)
    if line_end < 0:
        return len(text), f"\n{' ' * key_col}digest: {value}"
    crlf = text[line_end - 1 : line_end] == "\r"
    return (
        (line_end - 1, f"\r\n{' ' * key_col}digest: {value}")
        if crlf
        else (line_end, f"\n{' ' * key_col}digest: {value}")
    )


def _check(old: list[Any], new: list[Any], wanted: Mapping[str, EntryValue], where: str) -> None:
    got = _values(new)
    for name, value in wanted.items():
        now = got.get(name)
        if now is None or now.tag != value.tag or (value.digest is not None and now.digest != value.digest):
            raise EditError(f"{where}: editing entry {name!r} in place did not give tag {value.tag}")
    if _without(_plain(old), wanted) != _without(_plain(new), wanted):
        raise EditError(f"{where}: editing {', '.join(wanted)} in place would change more than their tags")


def _plain(docs: list[Any]) -> list[Any]:
    plain: list[Any] = json.loads(json.dumps(docs, default=str))
    return plain


def _without(docs: list[Any], names: Mapping[str, EntryValue]) -> list[Any]:
    """``docs`` without the tag, digest and image of the entries in ``names``."""
    out = []
    for doc in docs:
        images = doc.get("spec", {}).get("images") if isinstance(doc, dict) and doc.get("kind") == "Images" else None
        if isinstance(images, dict):
            images = {n: {k: v for k, v in e.items() if k not in ("tag", "digest", "image")}
                      if n in names and isinstance(e, dict) else e for n, e in images.items()}  # fmt: skip
            doc = {**doc, "spec": {**doc["spec"], "images": images}}
        out.append(doc)
    return out
