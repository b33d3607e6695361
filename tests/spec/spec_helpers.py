"""Helpers shared by the spec tests (imported by name: tests/spec is on sys.path under pytest)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

CASES = Path(__file__).parent / "cases"
VALID = CASES / "_valid"

EnvFactory = Callable[..., Path]


def copy_valid(target: Path, **files: str | None) -> Path:
    """Copy cases/_valid to ``target``, then write (str) or delete (None) files (``a__yaml`` = ``a.yaml``)."""
    shutil.copytree(VALID, target)
    for file_name, text in files.items():
        path = target / file_name.replace("__", ".")
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    return target


def edit(env: Path, file_name: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur) by ``new`` in a file of ``env``."""
    path = env / file_name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file_name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
