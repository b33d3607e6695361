"""The environments a branch changed since a revision: git's changed files against what each
environment reads. Does I/O (git, the spec files).

One workflow serves a repository with many environments: ``reconciler comment
environments/*/ --changed-since origin/main`` plans only those whose folder, compose file or
included files changed (:mod:`reconciler.spec.inputs` says what an environment reads,
:mod:`reconciler.drivers.git.changes` what changed). An environment whose specs are invalid
reads at least its folder. :func:`removals` tells what became of a folder a comment names that
is not among those given: still there (not ours to touch), removed by the pull request (and
where its files moved, for a rename), or added and removed again. Meant to serve the commands
that will write commits (set-image, promote) as well.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.core.errors import ReconcilerError, SpecError
from reconciler.drivers.git.changes import changed_files, exists_at, head_commit, merge_base, renames, repository_top
from reconciler.render.comment_removed import Removed
from reconciler.spec.inputs import EnvironmentInputs, environment_inputs, touched

__all__ = [
    "EnvironmentFolder",
    "changed_environments",
    "environment_folders",
    "head_sha",
    "moved_to",
    "removals",
    "removed_folders",
]


@dataclass(frozen=True)
class EnvironmentFolder:
    """An environment folder as given, its ``key`` (the folder relative to the repository's
    top, POSIX: the comment's marker) and the changed files it reads (empty: unchanged, or
    not asked)."""

    env_dir: Path
    key: str
    changed: tuple[str, ...] = ()


def environment_folders(env_dirs: Sequence[Path]) -> tuple[Path | None, list[EnvironmentFolder]]:
    """The repository's top (None outside git) and each folder with its key."""
    if not env_dirs:
        raise ReconcilerError("no environment folder given (e.g. environments/*/)")
    missing = [str(d) for d in env_dirs if not d.is_dir()]
    if missing:
        raise ReconcilerError(f"not a folder: {', '.join(missing)}")
    try:
        top: Path | None = repository_top(env_dirs[0].resolve())
    except ReconcilerError:
        top = None
    folders = [EnvironmentFolder(d, _key(d, top)) for d in env_dirs]
    keys = [f.key for f in folders]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ReconcilerError(f"an environment folder is given twice: {', '.join(twice)}")
    return top, folders


def _key(env_dir: Path, top: Path | None) -> str:
    if top is not None:
        try:
            return PurePosixPath(env_dir.resolve().relative_to(top.resolve()).as_posix()).as_posix()
        except ValueError:
            pass
    return PurePosixPath(env_dir.as_posix()).as_posix().rstrip("/") or "."


def changed_environments(env_dirs: Sequence[Path], since: str) -> list[EnvironmentFolder]:
    """Every folder of ``env_dirs`` with the files changed since ``since`` that it reads (those
    with none are unchanged). ReconcilerError when the folders are not in one git repository."""
    top, folders = environment_folders(env_dirs)
    if top is None:
        raise ReconcilerError(f"--changed-since needs a git repository: {env_dirs[0]} is not in one")
    outside = [str(f.env_dir) for f in folders if f.key.startswith("../") or f.key == ".."]
    if outside:
        raise ReconcilerError(f"not in the repository of {env_dirs[0]}: {', '.join(outside)}")
    changed = changed_files(top, since)
    result = []
    for folder in folders:
        try:
            inputs = environment_inputs(folder.env_dir)
        except SpecError:
            inputs = EnvironmentInputs(folder.env_dir.resolve())
        result.append(EnvironmentFolder(folder.env_dir, folder.key, touched(inputs, changed, top)))
    return result


def head_sha(env_dir: Path) -> str | None:
    """The commit checked out where ``env_dir`` is (None outside git)."""
    top = _top_of(env_dir)
    try:
        return head_commit(top) if top is not None else None
    except ReconcilerError:
        return None


def _top_of(path: Path) -> Path | None:
    """The top of the repository holding ``path`` or, when it is gone, its nearest parent still
    there; None outside git."""
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return repository_top(here)
    except ReconcilerError:
        return None


def removed_folders(env_dirs: Sequence[Path], since: str) -> tuple[list[Path], list[str]]:
    """The folders given that are there, and the keys of those the pull request removed (gone from
    the checkout, there at the merge base of ``since``); any other missing folder stays in the
    first list (refused as not a folder)."""
    missing = [d for d in env_dirs if not os.path.lexists(d)]
    top = _top_of(missing[0]) if missing else None
    if top is None:
        return list(env_dirs), []
    base = merge_base(top, since)
    removed = [d for d in missing if not _key(d, top).startswith("../") and exists_at(top, base, _key(d, top))]
    return [d for d in env_dirs if d not in removed], [_key(d, top) for d in removed]


def removals(env_dirs: Sequence[Path], since: str | None) -> Callable[[str], Removed | None]:
    """For the folder ``key`` (relative to the repository's top) of a comment: None while it is
    there (on disk, as checked out) or when it cannot be told (outside git, a key naming ``..``);
    else how it went. Git is asked only when a comment names a missing folder."""
    tops: list[Path | None] = []

    def gone(key: str) -> Removed | None:
        if not tops:
            tops.append(_top_of(env_dirs[0]) if env_dirs else None)
        top = tops[0]
        parts = PurePosixPath(key).parts
        if top is None or not parts or PurePosixPath(key).is_absolute() or ".." in parts:
            return None
        if os.path.lexists(top.joinpath(*parts)):
            return None
        if since is None:
            return Removed()
        if not exists_at(top, merge_base(top, since), key):
            return Removed(at_base=False)
        return Removed(at_base=True, moved_to=moved_to(key, renames(top, since)))

    return gone


def moved_to(key: str, pairs: Sequence[tuple[str, str]]) -> str | None:
    """The folder most files of ``key`` were renamed into (same path below it), if any. Pure."""
    found: Counter[str] = Counter()
    for old, new in pairs:
        rest = old[len(key) + 1 :] if old.startswith(key + "/") else ""
        if rest and new.endswith("/" + rest) and len(new) > len(rest) + 1:
            found[new[: -len(rest) - 1]] += 1
    return found.most_common(1)[0][0] if found else None
