"""libyaml's events for the fast YAML reader, stored compactly per document. Pure.

libyaml (PyYAML's C binding) only parses here: it hands over events (a scalar, the start or end
of a list or mapping, an alias), and one loop stores them, resolving plain scalars by YAML 1.2 as
the reference reader does (:mod:`reconciler.spec.yaml.scalars`). Nothing recurses per nesting level of
the input (libyaml's own composer would overflow the C stack on hostile nesting), and what the
fast reader could get wrong raises :class:`Fallback`: a syntax error, a directive, a tag, a
timestamp, nesting beyond the limit, an undefined, recursive or reused anchor, text the two
parsers read differently, or no libyaml at all.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.spec.yaml.document import MAX_DEPTH
from reconciler.spec.yaml.scalars import MERGE, Unsupported, resolve_plain


class Fallback(Exception):
    """The fast reader cannot promise the reference reader's result; use the reference."""


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


# A stored event: (op, payload, 1-based line). Payload: a scalar's value; for the start of a list
# or mapping, the index of its end event; for an alias, the index of the node it names (and the
# line is that node's, which is where the reference places it too).
Event = tuple[int, Any, int]
SCALAR, SEQ, MAP, END, ALIAS = range(5)
_DOC, _DOC_END, _STREAM, _STREAM_END = range(5, 9)


def _kinds() -> dict[type, int]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        raise Fallback from None
    if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - wheels bundle libyaml
        raise Fallback
    return {
        yaml.ScalarEvent: SCALAR,
        yaml.SequenceStartEvent: SEQ,
        yaml.MappingStartEvent: MAP,
        yaml.SequenceEndEvent: END,
        yaml.MappingEndEvent: END,
        yaml.AliasEvent: ALIAS,
        yaml.DocumentStartEvent: _DOC,
        yaml.DocumentEndEvent: _DOC_END,
        yaml.StreamStartEvent: _STREAM,
        yaml.StreamEndEvent: _STREAM_END,
    }


def documents(text: str) -> list[list[Event]]:
    """Every document's events. Raises Fallback (see the module)."""
    if _divergent(text):
        raise Fallback
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
        if op == END:
            start = starts.pop()
            events[start] = (events[start][0], len(events), events[start][2])
            events.append((END, None, 0))
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
        if op == ALIAS:
            target = anchors.get(anchor)
            if target is None or (events[target][0] != SCALAR and events[target][1] < 0):
                raise Fallback  # undefined, or refers to a node that encloses it
            events.append((ALIAS, target, events[target][2]))
            continue
        if event.tag is not None:
            raise Fallback  # !Ref, !!binary, !!str, ...: the reference reports or converts them
        if anchor is not None:
            if anchor in anchors:
                raise Fallback  # a reused anchor: the reference warns
            anchors[anchor] = len(events)
        line = event.start_mark.line + 1
        if op == SCALAR:
            value = resolve_plain(event.value) if event.implicit[0] else event.value
            if value is MERGE and anchor is not None:
                raise Fallback
            events.append((SCALAR, value, line))
        else:
            starts.append(len(events))
            events.append((op, -1, line))
