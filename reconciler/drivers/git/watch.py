"""Wake the loop when a local repository's branch may have moved. Does I/O (inotify via watchfiles).

:func:`watch` blocks (run it in a thread) until ``stop_event`` is set and calls
``on_change`` after each burst of changes to the watched paths, typically
:meth:`GitSource.watch_paths` (the branch's loose ref and ``packed-refs``).
A burst (git writes ``<ref>.lock`` and renames it) is reported once: changes
are grouped until none came for ``step_ms``, and for at most ``debounce_ms``.
A change only means "a new commit *may* exist": the caller fetches and compares.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles


def _roots(targets: set[Path]) -> list[Path]:
    """The existing directories to watch (recursively) so that every target is covered."""
    roots: set[Path] = set()
    for target in targets:
        root = target if target.is_dir() else target.parent
        while not root.is_dir() and root != root.parent:
            root = root.parent
        roots.add(root)
    return sorted(r for r in roots if not any(other in r.parents for other in roots))


def watch(
    paths: Sequence[Path],
    stop_event: threading.Event,
    on_change: Callable[[frozenset[Path]], None],
    *,
    debounce_ms: int = 400,
    step_ms: int = 50,
) -> None:
    """Call ``on_change(changed paths)`` whenever files among ``paths`` (or under those of them
    that are directories) are created, modified or removed; return once ``stop_event`` is set
    (within ``step_ms``). Paths that do not exist yet are watched for their creation. With no
    paths (a remote repository) it only waits for ``stop_event``. Exceptions raised by
    ``on_change`` propagate."""
    targets = {Path(os.path.realpath(p)) for p in paths}
    if not targets:
        stop_event.wait()
        return
    folders = {t for t in targets if t.is_dir()}

    def relevant(_change: watchfiles.Change, raw: str) -> bool:
        path = Path(raw)
        if path.name.endswith(".lock"):
            return False
        return path in targets or any(folder in path.parents for folder in folders)

    for changes in watchfiles.watch(
        *_roots(targets),
        watch_filter=relevant,
        debounce=debounce_ms,
        step=step_ms,
        stop_event=stop_event,
        raise_interrupt=False,
    ):
        if stop_event.is_set():
            return
        on_change(frozenset(Path(raw) for _change, raw in changes))
