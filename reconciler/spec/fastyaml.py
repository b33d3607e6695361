"""The fast YAML reader: libyaml's parser (through PyYAML's C binding) and a builder of the same
plain data and line map the reference reader (:mod:`reconciler.spec.rtyaml`) produces. Pure.

libyaml only parses: it hands over events (a scalar, the start or end of a list or mapping, an
alias). One pass stores them compactly per document, resolving plain scalars by YAML 1.2 as the
reference does (:mod:`reconciler.spec.yaml12`); a second pass builds each document, expanding
aliases and merge keys (``<<``) as the reference does, with the same limits in the same order.
Nothing recurses per nesting level of the input before the depth is known to be at most
:data:`MAX_DEPTH` (libyaml's own composer would overflow the C stack on hostile nesting).

Whatever this reader could get wrong it does not attempt; it raises :class:`Fallback` and the
caller uses the reference reader for the whole file: a syntax error, a duplicate key, a tag, a
directive, a timestamp, a complex or aliased key, an unusual anchor or merge, nesting beyond the
limit, or no libyaml at all.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from reconciler.errors import SpecError, SpecIssue
from reconciler.spec.yaml12 import MERGE, Unsupported, resolve_plain
from reconciler.spec.yamldoc import (
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_NODES,
    TOO_MANY_NODES,
    Loc,
    SourceDoc,
    TooLarge,
    too_many_documents,
)

# text the two parsers read differently: ruamel refuses tabs in places libyaml accepts, and a comment
# right after a block scalar's header (``|#``), and a repeated document end marker (``...``); they
# count NEL, LS and PS as line breaks differently; a byte-order mark inside the text; a bare CR
_ODD_CHARACTERS = "\t\r\x85\u2028\u2029\ufeff"
_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")


def _divergent(text: str) -> bool:
    if any(c in text for c in _ODD_CHARACTERS) or text.startswith("...") or "\n..." in text:
        return True
    for indicator in "|>":
        at = text.find(indicator)
        while at >= 0:
            if _HEADER_COMMENT.match(text, at):
                return True
            at = text.find(indicator, at + 1)
    return False


class Fallback(Exception):
    """The fast reader cannot promise the reference reader's result; use the reference."""


# A stored event: (op, payload, 1-based line). Payload: a scalar's value; for the start of a list
# or mapping, the index of its end event; for an alias, the index of the node it names (and the
# line is that node's, which is where the reference places it too).
Event = tuple[int, Any, int]
_SCALAR, _SEQ, _MAP, _END, _ALIAS, _DOC, _DOC_END, _STREAM, _STREAM_END = range(9)


def _kinds() -> dict[type, int]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        raise Fallback from None
    if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - wheels bundle libyaml
        raise Fallback
    return {
        yaml.ScalarEvent: _SCALAR,
        yaml.SequenceStartEvent: _SEQ,
        yaml.MappingStartEvent: _MAP,
        yaml.SequenceEndEvent: _END,
        yaml.MappingEndEvent: _END,
        yaml.AliasEvent: _ALIAS,
        yaml.DocumentStartEvent: _DOC,
        yaml.DocumentEndEvent: _DOC_END,
        yaml.StreamStartEvent: _STREAM,
        yaml.StreamEndEvent: _STREAM_END,
    }


def _documents(text: str) -> list[list[Event]]:
    """Every document's events. Raises Fallback (see the module)."""
    kinds = _kinds()
    import yaml

    parser = yaml.CBaseLoader(text)
    try:
        return _collect(parser, kinds)
    except (yaml.YAMLError, Unsupported):
        raise Fallback from None
    finally:
        parser.dispose()


def _collect(parser: Any, kinds: dict[type, int]) -> list[list[Event]]:
    documents: list[list[Event]] = []
    events: list[Event] = []
    anchors: dict[str, int] = {}
    starts: list[int] = []  # open lists and mappings
    while True:
        event = parser.get_event()
        op = kinds[type(event)]
        if op == _END:
            start = starts.pop()
            events[start] = (events[start][0], len(events), events[start][2])
            events.append((_END, None, 0))
            continue
        if op == _DOC:
            if event.version is not None or event.tags:
                raise Fallback  # %YAML or %TAG: the reference reads by the directive
            events, anchors = [], {}
            continue
        if op == _DOC_END:
            documents.append(events)
            continue
        if op == _STREAM_END:
            return documents
        if op == _STREAM:
            continue
        if len(starts) > MAX_DEPTH:
            raise Fallback  # the reference refuses it, with or without a line
        anchor = event.anchor
        if op == _ALIAS:
            target = anchors.get(anchor)
            if target is None or (events[target][0] != _SCALAR and events[target][1] < 0):
                raise Fallback  # undefined, or refers to a node that encloses it
            events.append((_ALIAS, target, events[target][2]))
            continue
        if event.tag is not None:
            raise Fallback  # !Ref, !!binary, !!str, ...: the reference reports or converts them
        if anchor is not None:
            if anchor in anchors:
                raise Fallback  # a reused anchor: the reference warns
            anchors[anchor] = len(events)
        line = event.start_mark.line + 1
        if op == _SCALAR:
            value = resolve_plain(event.value) if event.implicit[0] else event.value
            if value is MERGE and anchor is not None:
                raise Fallback
            events.append((_SCALAR, value, line))
        else:
            starts.append(len(events))
            events.append((op, -1, line))


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
        if op == _ALIAS:
            i = payload
            op, payload, _ = self.events[i]
        if op == _SCALAR:
            if payload is MERGE:
                raise Fallback  # ``<<`` as a value
            return payload
        if op == _SEQ:
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
        return int(payload) + 1 if op in (_SEQ, _MAP) else i + 1

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
            if op != _SCALAR:
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
        if op == _ALIAS:
            i = payload
            op, payload, _ = self.events[i]
        if op == _MAP:
            return [i]
        if op != _SEQ:
            raise Fallback  # the reference refuses it
        sources = []
        j = i + 1
        while j < payload:
            item_op, target, _ = self.events[j]
            source = target if item_op == _ALIAS else j
            if self.events[source][0] != _MAP:
                raise Fallback
            sources.append(source)
            j = self.skip(j)
        return sources


def _verify(documents: list[list[Event]]) -> None:
    """Raise Fallback when the reference reader would stop at an error before applying a limit:
    it reads every document (keys and merges checked) before it counts anything."""
    for events in documents:
        builder = _Builder(events)
        for i, (op, _, _) in enumerate(events):
            if op == _MAP:
                builder.entries(i)


def parse(text: str, path: Path, display: str) -> tuple[SourceDoc, ...]:
    """Every non-empty document of ``text``, as the reference reader reads it. Raises Fallback
    (see the module) or SpecError (a limit passed, with the reference's message)."""
    if _divergent(text):
        raise Fallback
    try:
        documents = _documents(text)
        if len(documents) > MAX_DOCUMENTS:
            _verify(documents)
            raise SpecError([SpecIssue(display, None, "", too_many_documents(len(documents)))])
        docs = []
        for index, events in enumerate(documents):
            op, value, line = events[0]
            if op == _SCALAR and value is None:
                continue  # an empty document
            builder = _Builder(events)
            try:
                data = builder.node(0, (), line)
            except TooLarge as error:
                _verify(documents)
                raise SpecError([SpecIssue(display, line, "", str(error))]) from None
            docs.append(SourceDoc(path, display, index, line, data, builder.lines))
        return tuple(docs)
    except RecursionError:
        raise Fallback from None
