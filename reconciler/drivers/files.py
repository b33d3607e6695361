"""Files the executor writes: the state dir (0700) and the stacks' overrides (0600, atomic). Does I/O.

Overrides hold no secret (Compose gets the values in its environment); they
are written with a temporary name and renamed, so a crash leaves either the
old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from io import StringIO
from pathlib import Path


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (0700) or tighten it to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write atomically: a new file created with ``mode`` (never wider), then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def override_text(document: Mapping[str, object]) -> str:
    """The override file's text (YAML)."""
    from ruamel.yaml import YAML  # only when an override is written

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    out = StringIO()
    out.write("# Written by the reconciler for every apply; no secrets (Compose gets them in its environment).\n")
    yaml.dump(_plain(document), out)
    return out.getvalue()


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

