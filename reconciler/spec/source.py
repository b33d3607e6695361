"""Read YAML files into plain Python data plus a line map. Pure apart from reading the file.

Spec documents and compose files are read as YAML 1.2 into plain
``dict``/``list``/``str``/``int``/``float``/``bool``/``None``; the positions live beside the
data in :attr:`SourceDoc.lines`, keyed by the path of keys and indexes that leads to a value,
which is what lets a message say ``params.yaml:12: spec.parameters.DB_PASSWORD: ...``.

Two readers give the same result. The fast one (:mod:`reconciler.spec.yaml.fast`: libyaml's
parser, through PyYAML) reads ordinary files; anything it cannot reproduce exactly (a syntax
error, a duplicate key, a tag, a timestamp, a directive, an odd anchor or merge key) it hands to
the reference reader (:mod:`reconciler.spec.yaml.reference`: ruamel.yaml's round-trip loader, imported
only then), which words the error with file and line, and refuses what the reference refuses.
Syntax errors and duplicate keys become a :class:`~reconciler.core.errors.SpecError` naming the file
and line.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.yaml import fast
from reconciler.spec.yaml.document import (
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_FILE_BYTES,
    MAX_NODES,
    Loc,
    SourceDoc,
    format_loc,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENTS",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Loc",
    "SourceDoc",
    "display_path",
    "format_loc",
    "parse_yaml",
    "read_yaml",
    "real_path",
]


def real_path(path: Path) -> Path:
    """``path`` with its symlinks resolved; absolute as written when they cannot be (a symlink loop),
    so that reading it then fails as a missing file would, with a message instead of a crash."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: RuntimeError up to Python 3.12, OSError since
        return Path(os.path.abspath(path))


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) when it lies below it."""
    base = real_path(cwd or Path.cwd())
    absolute = real_path(path) if path.exists() else Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(base))
    except ValueError:
        return str(absolute)


def parse_yaml(text: str, path: Path, display: str, *, strict: bool = True) -> tuple[SourceDoc, ...]:
    """Parse every document of ``text``; empty documents are dropped. Pure.

    Raises SpecError: the first syntax error or duplicate key, a limit passed, or (``strict``,
    spec documents) every value YAML would silently convert (timestamps, binary, custom tags)."""
    try:
        return fast.parse(text, path, display)
    except fast.Fallback:
        pass
    from reconciler.spec.yaml import reference  # ruamel.yaml: imported only when the fast reader gives up

    return reference.parse(text, path, display, strict=strict)


def read_yaml(path: Path, display: str, *, strict: bool = True) -> tuple[SourceDoc, ...]:
    """Read and parse a YAML file. Raises SpecError for unreadable, oversized files and invalid YAML."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(
                [SpecIssue(display, None, "", f"{size:,} bytes; a spec or compose file is at most {MAX_FILE_BYTES:,}")]
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError([SpecIssue(display, None, "", "not a UTF-8 text file")]) from None
    except OSError as error:
        raise SpecError([SpecIssue(display, None, "", f"cannot read: {error.strerror or error}")]) from None
    return parse_yaml(text, path, display, strict=strict)
