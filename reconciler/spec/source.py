"""Read YAML files into plain Python data plus a line map. Pure apart from reading the file.

Spec documents and compose files are read with ruamel.yaml's round-trip
loader (YAML 1.2, no arbitrary object construction). It remembers where
every key and list item sits, which is what lets a message say
``params.yaml:12: spec.parameters.DB_PASSWORD: ...``. The data handed on is
plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``; the
positions live beside it in :attr:`SourceDoc.lines`, keyed by the path of
keys and indexes that leads to a value. Syntax errors and duplicate keys
become a :class:`~reconciler.errors.SpecError` naming the file and line.
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from reconciler.errors import SpecError, SpecIssue

Loc = tuple[Hashable, ...]


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) when it lies below it."""
    base = (cwd or Path.cwd()).resolve()
    absolute = path.resolve() if path.exists() else Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(base))
    except ValueError:
        return str(absolute)


def format_loc(loc: Sequence[Hashable]) -> str:
    """A field path for messages: ``spec.parameters.DB_HOST``, ``spec.parameterSets[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class SourceDoc:
    """One YAML document: its plain data and where each part of it was written."""

    path: Path  # absolute path of the file
    display: str  # the file as messages name it (relative to the working directory when possible)
    index: int  # position of the document in its file, 0-based
    line: int  # 1-based line where the document's content starts
    data: object  # plain Python data
    lines: Mapping[Loc, int] = field(default_factory=dict)  # loc -> 1-based line of that key/item

    def line_of(self, loc: Sequence[Hashable]) -> int:
        """Line of the deepest part of ``loc`` that exists (a missing field: its parent)."""
        parts = tuple(loc)
        while parts:
            line = self.lines.get(parts)
            if line is not None:
                return line
            parts = parts[:-1]
        return self.line

    def where(self, loc: Sequence[Hashable] = ()) -> str:
        return f"{self.display}:{self.line_of(loc)}"

    def issue(self, loc: Sequence[Hashable], message: str) -> SpecIssue:
        return SpecIssue(self.display, self.line_of(loc), format_loc(loc), message)


def _plain_key(key: object) -> Hashable:
    if isinstance(key, bool) or key is None:
        return key
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int):
        return int(key)
    if isinstance(key, float):
        return float(key)
    return str(key)


def to_plain(node: object) -> object:
    """Convert ruamel's round-trip types to plain Python types (merge keys resolved)."""
    if isinstance(node, CommentedMap):
        return {_plain_key(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq | list):
        return [to_plain(v) for v in node]
    if isinstance(node, dict):
        return {_plain_key(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, TaggedScalar):
        return None if node.value in (None, "null", "~", "") else str(node.value)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, ScalarBoolean):  # an anchored boolean: an int subclass in ruamel
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime.datetime | datetime.date):
        return node.isoformat()
    if isinstance(node, bytes):
        return node.decode("utf-8", "replace")
    return str(node)


def _line_map(node: object, loc: Loc, line: int, out: dict[Loc, int]) -> None:
    if isinstance(node, CommentedMap):
        for key in node:
            try:
                key_line = int(node.lc.key(key)[0]) + 1
            except (KeyError, TypeError, IndexError):  # merged in from an anchor: no own position
                key_line = line
            child = (*loc, _plain_key(key))
            out.setdefault(child, key_line)
            _line_map(node[key], child, key_line, out)
    elif isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            try:
                item_line = int(node.lc.item(i)[0]) + 1
            except (KeyError, TypeError, IndexError):
                item_line = line
            child = (*loc, i)
            out.setdefault(child, item_line)
            _line_map(item, child, item_line, out)


def _yaml_issue(display: str, error: YAMLError) -> SpecIssue:
    if isinstance(error, MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = str(error.problem or error.context or "invalid YAML").strip()
        if isinstance(error, DuplicateKeyError):
            first = error.context_mark
            problem = problem.replace("found duplicate key", "duplicate key")
            if first is not None:
                problem += (
                    f"; a key may appear only once in a mapping (the mapping starts at line {first.line + 1})"
                )
        elif error.context and error.problem:
            started = error.context_mark
            at = f" that starts at line {started.line + 1}" if started is not None else ""
            problem = f"invalid YAML: {error.problem} ({error.context}{at})"
        else:
            problem = f"invalid YAML: {problem}"
        return SpecIssue(display, line, "", problem)
    return SpecIssue(display, None, "", f"invalid YAML: {error}")


def parse_yaml(text: str, path: Path, display: str) -> tuple[SourceDoc, ...]:
    """Parse every document of ``text``; empty documents are dropped. Pure.

    Raises SpecError (one issue: the first syntax error or duplicate key)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw_docs = list(yaml.load_all(io.StringIO(text)))
    except YAMLError as error:
        raise SpecError([_yaml_issue(display, error)]) from None
    starts: list[int] | None = None
    docs: list[SourceDoc] = []
    for index, raw in enumerate(raw_docs):
        if raw is None:
            continue
        if isinstance(raw, CommentedMap | CommentedSeq):
            line = int(raw.lc.line) + 1
        else:
            if starts is None:
                starts = _document_starts(text)
            line = starts[index] if index < len(starts) else 1
        lines: dict[Loc, int] = {(): line}
        _line_map(raw, (), line, lines)
        docs.append(SourceDoc(path, display, index, line, to_plain(raw), lines))
    return tuple(docs)


def _document_starts(text: str) -> list[int]:
    """1-based first content line of each document (for scalar documents without positions)."""
    yaml = YAML(typ="rt")
    try:
        return [int(node.start_mark.line) + 1 for node in yaml.compose_all(io.StringIO(text))]
    except YAMLError:  # pragma: no cover - load_all already succeeded on the same text
        return []


def read_yaml(path: Path, display: str) -> tuple[SourceDoc, ...]:
    """Read and parse a YAML file. Raises SpecError for unreadable files and invalid YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([SpecIssue(display, None, "", "not a UTF-8 text file")]) from None
    except OSError as error:
        raise SpecError([SpecIssue(display, None, "", f"cannot read: {error.strerror or error}")]) from None
    return parse_yaml(text, path, display)
