"""The ruamel.yaml reader: the reference the fast reader (:mod:`reconciler.spec.yaml.fast`) must
agree with, and the one used for whatever that reader hands back (syntax errors, duplicate keys,
tags, timestamps, directives, hostile anchors), so messages keep their file:line:column. Pure.

ruamel.yaml's round-trip loader (YAML 1.2, no arbitrary object construction) remembers where every
key and list item sits. A :class:`_Walker` turns its document into plain
``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` plus the line map, expanding aliases
and counting every value it produces. Syntax errors and duplicate keys become a
:class:`~reconciler.core.errors.SpecError` naming the file and line. Imported only when needed.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Hashable
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.yaml.document import (
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_NODES,
    RESET,
    TOO_DEEP,
    TOO_MANY_NODES,
    Loc,
    SourceDoc,
    TooLarge,
    format_loc,
    too_many_documents,
)


def _tag(node: object) -> str | None:
    """The tag written on ``node``: any on a scalar ruamel leaves tagged (``!reset``, ``!Ref``, ``!!binary``),
    a local one (``!reset``) on a mapping or list; None otherwise."""
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    if not isinstance(value, str):
        return None
    return value if isinstance(node, TaggedScalar) or value.startswith("!") else None


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


class _Walker:
    """One walk over a round-trip document: plain data, the line map and the values YAML would
    silently convert (timestamps, binary, custom tags) as issues. Aliases are expanded, so the
    walk counts every value it produces and stops at :data:`MAX_NODES`."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.nodes = 0
        self.lines: dict[Loc, int] = {}
        self.issues: list[SpecIssue] = []
        self.tags: dict[Loc, tuple[str, int]] = {}

    def _count(self, loc: Loc) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooLarge(TOO_MANY_NODES)
        if len(loc) > MAX_DEPTH:
            raise TooLarge(TOO_DEEP)

    def _refuse(self, loc: Loc, line: int, message: str) -> None:
        self.issues.append(SpecIssue(self.display, line, format_loc(loc), message))

    def walk(self, node: object, loc: Loc, line: int) -> object:
        self._count(loc)
        self.lines.setdefault(loc, line)
        tag = _tag(node)
        if tag is not None:
            self.tags.setdefault(loc, (tag, line))
            self._refuse(loc, line, f"the YAML tag {tag} is not supported; write a plain value (quote it)")
        if isinstance(node, CommentedMap | dict):
            out: dict[Hashable, object] = {}
            for key in node:
                line_of_key = line
                if isinstance(node, CommentedMap):
                    try:
                        line_of_key = int(node.lc.key(key)[0]) + 1
                    except (KeyError, TypeError, IndexError):  # merged in from an anchor: no own position
                        line_of_key = line
                plain = _plain_key(key)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    self._refuse((*loc, plain), line_of_key, "a mapping key must be a plain scalar; quote it")
                if not self._reset(node[key], (*loc, plain), line_of_key):
                    out[plain] = self.walk(node[key], (*loc, plain), line_of_key)
            return out
        if isinstance(node, CommentedSeq | list):
            items: list[object] = []
            for i, item in enumerate(node):
                line_of_item = line
                if isinstance(node, CommentedSeq):
                    try:
                        line_of_item = int(node.lc.item(i)[0]) + 1
                    except (KeyError, TypeError, IndexError):
                        line_of_item = line
                if not self._reset(item, (*loc, len(items)), line_of_item):
                    items.append(self.walk(item, (*loc, len(items)), line_of_item))
            return items
        return self._scalar(node, loc, line)

    def _reset(self, node: object, loc: Loc, line: int) -> bool:
        """True for a value tagged ``!reset``, left out as Compose leaves it out (its tag recorded)."""
        if _tag(node) != RESET:
            return False
        self.tags.setdefault(loc, (RESET, line))
        self._refuse(loc, line, f"the YAML tag {RESET} is not supported; write a plain value (quote it)")
        return True

    def _scalar(self, node: object, loc: Loc, line: int) -> object:
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
            self._refuse(
                loc, line, f"YAML reads this as a timestamp ({node.isoformat()}); quote it to keep the text as written"
            )
            return node.isoformat()
        if isinstance(node, bytes):
            self._refuse(loc, line, "binary (!!binary) values are not supported; write the text itself, quoted")
            return node.decode("utf-8", "replace")
        self._refuse(loc, line, f"a {type(node).__name__} value is not supported; quote it")
        return str(node)


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


def parse(text: str, path: Path, display: str, *, strict: bool = True) -> tuple[SourceDoc, ...]:
    """Parse every document of ``text``; empty documents are dropped. Pure.

    Raises SpecError: the first syntax error or duplicate key, a limit passed, or (``strict``,
    spec documents) every value YAML would silently convert (timestamps, binary, custom tags)."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw_docs = list(yaml.load_all(io.StringIO(text)))
    except YAMLError as error:
        issue = _yaml_issue(display, error)
        position = getattr(error, "position", None)
        if issue.line is None and isinstance(position, int):  # a reader error: a character, no mark
            problem = issue.message.split("\n")[0]
            issue = SpecIssue(display, text[:position].count("\n") + 1, "", problem)
        raise SpecError([issue]) from None
    except RecursionError:
        raise SpecError([SpecIssue(display, None, "", TOO_DEEP)]) from None
    except Exception as error:  # ruamel fails on some hostile graphs (a merge key that refers to itself)
        problem = f"cannot be read as YAML ({type(error).__name__}); does an anchor refer to itself?"
        raise SpecError([SpecIssue(display, None, "", problem)]) from None
    if len(raw_docs) > MAX_DOCUMENTS:
        raise SpecError([SpecIssue(display, None, "", too_many_documents(len(raw_docs)))])
    starts: list[int] | None = None
    docs: list[SourceDoc] = []
    issues: list[SpecIssue] = []
    for index, raw in enumerate(raw_docs):
        if raw is None:
            continue
        if isinstance(raw, CommentedMap | CommentedSeq):
            line = int(raw.lc.line) + 1
        else:
            if starts is None:
                starts = _document_starts(text)
            line = starts[index] if index < len(starts) else 1
        walker = _Walker(display)
        try:
            data = walker.walk(raw, (), line)
        except TooLarge as error:
            raise SpecError([SpecIssue(display, line, "", str(error))]) from None
        except RecursionError:
            raise SpecError([SpecIssue(display, line, "", TOO_DEEP)]) from None
        issues.extend(walker.issues)
        docs.append(SourceDoc(path, display, index, line, data, walker.lines, tuple(walker.issues), walker.tags))
    if strict and issues:
        raise SpecError(issues)
    return tuple(docs)


def _document_starts(text: str) -> list[int]:
    """1-based first content line of each document (for scalar documents without positions)."""
    yaml = YAML(typ="rt")
    try:
        return [int(node.start_mark.line) + 1 for node in yaml.compose_all(io.StringIO(text))]
    except YAMLError:  # pragma: no cover - load_all already succeeded on the same text
        return []
