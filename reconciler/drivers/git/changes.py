"""Which files a branch changed since another revision, as git says. Does I/O (git).

The files a pull request changes are those between the merge base of its base and its head
(``git diff BASE...HEAD``, three dots: what GitHub shows as the pull request's diff), with
renames listed as a deletion and an addition (``--no-renames``): a file moved out of an
environment's folder changes that environment too. Used by ``reconciler comment
--changed-since``; the commands that will write commits (set-image, promote) can use it too.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.core.errors import PermanentError, WorldError
from reconciler.drivers.git.command import run_git

__all__ = ["changed_files", "exists_at", "head_commit", "merge_base", "renames", "repository_top"]

TIMEOUT = 60.0


def repository_top(path: Path) -> Path:
    """The top of the working tree holding ``path`` (a file or a folder)."""
    folder = path if path.is_dir() else path.parent
    out = run_git(["rev-parse", "--show-toplevel"], cwd=folder, timeout=TIMEOUT, resource=f"git repository of {path}")
    return Path(out.decode().strip())


def head_commit(top: Path) -> str:
    """The full sha of HEAD in the working tree ``top``."""
    return run_git(["rev-parse", "HEAD"], cwd=top, timeout=TIMEOUT, resource=f"git repository {top}").decode().strip()


def changed_files(top: Path, since: str, head: str = "HEAD") -> tuple[str, ...]:
    """The files (POSIX, relative to ``top``) changed between the merge base of ``since`` and
    ``head``, and ``head``; sorted. PermanentError naming the revision when git does not know it."""
    resource = f"git repository {top}"
    try:
        out = run_git(
            ["diff", "--name-only", "--no-renames", "-z", f"{since}...{head}", "--"],
            cwd=top,
            timeout=TIMEOUT,
            resource=resource,
        )
    except WorldError as exc:
        raise PermanentError(
            resource,
            f"cannot list the files changed since {since!r}: {exc.message} (is {since!r} fetched? in GitHub "
            "Actions, check out with fetch-depth: 0)",
        ) from None
    return tuple(sorted(name for name in out.decode("utf-8", "surrogateescape").split("\0") if name))


def exists_at(top: Path, rev: str, path: str) -> bool:
    """Whether ``path`` (POSIX, relative to ``top``) is in the tree of ``rev``."""
    try:
        run_git(["cat-file", "-e", f"{rev}:{path}"], cwd=top, timeout=TIMEOUT, resource=f"git repository {top}")
    except WorldError:
        return False
    return True


def merge_base(top: Path, since: str, head: str = "HEAD") -> str:
    """The merge base of ``since`` and ``head`` (what ``git diff since...head`` compares with)."""
    resource = f"git repository {top}"
    try:
        return run_git(["merge-base", since, head], cwd=top, timeout=TIMEOUT, resource=resource).decode().strip()
    except WorldError as exc:
        raise PermanentError(resource, f"no merge base of {since!r} and {head}: {exc.message}") from None


def renames(top: Path, since: str, head: str = "HEAD") -> tuple[tuple[str, str], ...]:
    """The files git sees renamed between the merge base of ``since`` and ``head``: (old, new)."""
    out = run_git(["diff", "--name-status", "-M", "--diff-filter=R", "-z", f"{since}...{head}", "--"],
                  cwd=top, timeout=TIMEOUT, resource=f"git repository {top}")  # fmt: skip
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    return tuple((fields[i + 1], fields[i + 2]) for i in range(0, len(fields) - 2, 3) if fields[i].startswith("R"))
