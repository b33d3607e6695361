"""What both YAML readers share: the document type they produce, field paths and the limits. Pure.

The positions of a document live beside its plain data in :attr:`SourceDoc.lines`,
keyed by the path of keys and indexes that leads to a value, which is what lets a
message say ``params.yaml:12: spec.parameters.DB_PASSWORD: ...``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import SpecIssue

Loc = tuple[Hashable, ...]

MAX_FILE_BYTES = 5 * 1024 * 1024  # a spec or compose file; 10,000 parameters take about 0.5 MB
MAX_DOCUMENTS = 1000  # per file
MAX_NODES = 200_000  # values in one document once aliases are expanded (a "billion laughs" stops here)
MAX_DEPTH = 64  # nesting of mappings and lists

TOO_MANY_NODES = (
    f"more than {MAX_NODES:,} values once YAML aliases are expanded; "
    "spec files must not multiply anchors (a 'billion laughs')"
)
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"

RESET = "!reset"  # Compose's tag: the value inherited (extends, an earlier file) is removed
OVERRIDE = "!override"  # Compose's tag: the value replaces the inherited one instead of merging


class TooLarge(Exception):
    """A document exceeds a limit; carries the message."""


def too_many_documents(count: int) -> str:
    return f"{count} documents; at most {MAX_DOCUMENTS} per file"


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
    # values YAML converted implicitly (timestamps, binary, custom tags): errors in a spec document,
    # accepted in a compose file (Compose has its own tags such as !reset)
    conversions: tuple[SpecIssue, ...] = ()
    # every YAML tag written on a value: loc -> (tag, line). A ``!reset`` value (Compose's tag) is left
    # out of :attr:`data`, as Compose leaves it out; its loc stays here
    tags: Mapping[Loc, tuple[str, int]] = field(default_factory=dict)

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
