"""The fast YAML reader: libyaml's parser (through PyYAML) and a builder of the same plain data
and line map the reference reader (:mod:`reconciler.spec.yaml.reference`) produces. Pure.

:func:`~reconciler.spec.yaml.events.documents` stores each document's events; :class:`_Builder`
builds each document from them, expanding aliases and merge keys (``<<``) as the reference does,
with the same limits checked in the same order. Whatever this reader could get wrong it does not
attempt; it raises :class:`Fallback` and the caller uses the reference reader for the whole file:
besides what the events module refuses, a duplicate key, a complex or aliased key, an unusual
merge, nesting beyond the limit through aliases.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.yaml.document import (
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_NODES,
    TOO_MANY_NODES,
    Loc,
    SourceDoc,
    TooLarge,
    too_many_documents,
)
from reconciler.spec.yaml.events import ALIAS, MAP, SCALAR, SEQ, Event, Fallback, documents
from reconciler.spec.yaml.scalars import MERGE

__all__ = ["Fallback", "parse"]


class _Builder:
    """Builds one document from its events, as the reference's walker does: aliases expanded,
    every value counted (at most MAX_NODES), mapping keys in order and then merged keys."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.nodes = 0
        self.lines: dict[Loc, int] = {}
        self._entries: dict[int, list[tuple[Hashable, int | None, int]]] = {}

    def node(self, i: int, loc: Loc, line: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise TooLarge(TOO_MANY_NODES)
        if len(loc) > MAX_DEPTH:
            raise Fallback  # deeper through aliases: the reference words it
        self.lines.setdefault(loc, line)
        op, payload, _ = self.events[i]
        if op == ALIAS:
            i = payload
            op, payload, _ = self.events[i]
        if op == SCALAR:
            if payload is MERGE:
                raise Fallback  # ``<<`` as a value
            return payload
        if op == SEQ:
            items: list[object] = []
            j = i + 1
            while j < payload:
                items.append(self.node(j, (*loc, len(items)), self.events[j][2]))
                j = self.skip(j)
            return items
        return {key: self.node(v, (*loc, key), line if at is None else at) for key, at, v in self.entries(i)}

    def skip(self, i: int) -> int:
        """Index of the event after the node at ``i``."""
        op, payload, _ = self.events[i]
        return int(payload) + 1 if op in (SEQ, MAP) else i + 1

    def entries(self, i: int) -> list[tuple[Hashable, int | None, int]]:
        """(key, line of the key or None when merged in, index of the value) of the mapping at
        ``i``: its own keys in order, then those merge keys bring that it does not have."""
        cached = self._entries.get(i)
        if cached is not None:
            return cached
        events = self.events
        end = events[i][1]
        own: dict[Hashable, tuple[int | None, int]] = {}
        sources: list[int] | None = None
        j = i + 1
        while j < end:
            op, key, line = events[j]
            if op != SCALAR:
                raise Fallback  # a list, mapping or alias as a key
            j += 1
            if key is MERGE:
                if sources is not None:
                    raise Fallback  # two merge keys: the reference refuses
                sources = self._merge_sources(j)
            elif key in own:
                raise Fallback  # a duplicate key: the reference refuses it, with both lines
            else:
                own[key] = (line, j)
            j = self.skip(j)
        for source in sources or ():
            for key, _, value in self.entries(source):
                own.setdefault(key, (None, value))
        result = [(key, at, value) for key, (at, value) in own.items()]
        self._entries[i] = result
        return result

    def _merge_sources(self, i: int) -> list[int]:
        """The mappings the value of a merge key at ``i`` names (one, or a list of them)."""
        op, payload, _ = self.events[i]
        if op == ALIAS:
            i = payload
            op, payload, _ = self.events[i]
        if op == MAP:
            return [i]
        if op != SEQ:
            raise Fallback  # the reference refuses it
        sources = []
        j = i + 1
        while j < payload:
            item_op, target, _ = self.events[j]
            source = target if item_op == ALIAS else j
            if self.events[source][0] != MAP:
                raise Fallback
            sources.append(source)
            j = self.skip(j)
        return sources


def _verify(stored: list[list[Event]]) -> None:
    """Raise Fallback when the reference reader would stop at an error before applying a limit:
    it reads every document (keys and merges checked) before it counts anything."""
    for events in stored:
        builder = _Builder(events)
        for i, (op, _, _) in enumerate(events):
            if op == MAP:
                builder.entries(i)


def parse(text: str, path: Path, display: str) -> tuple[SourceDoc, ...]:
    """Every non-empty document of ``text``, as the reference reader reads it. Raises Fallback
    (see the module) or SpecError (a limit passed, with the reference's message)."""
    try:
        stored = documents(text)
        if len(stored) > MAX_DOCUMENTS:
            _verify(stored)
            raise SpecError([SpecIssue(display, None, "", too_many_documents(len(stored)))])
        docs = []
        for index, events in enumerate(stored):
            op, value, line = events[0]
            if op == SCALAR and value is None:
                continue  # an empty document
            builder = _Builder(events)
            try:
                data = builder.node(0, (), line)
            except TooLarge as error:
                _verify(stored)
                raise SpecError([SpecIssue(display, line, "", str(error))]) from None
            docs.append(SourceDoc(path, display, index, line, data, builder.lines))
        return tuple(docs)
    except RecursionError:
        raise Fallback from None
