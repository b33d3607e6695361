"""The rollback commit itself: a folder, and the files outside it that the environment reads,
restored to their content at an earlier revision on top of the branch head. Does I/O (git plumbing).

:func:`write_commit` builds the commit from tree objects only (``ls-tree``/``mktree``/
``commit-tree``), never from a working tree or an index, and moves no ref (that is
:mod:`.rollback`'s compare-and-swap). The folder comes back as the very tree object it was at
the target revision. A compose file may ``include`` or ``extends`` files outside the folder
(``../../shared/base.yaml``): ``inputs`` is handed a checkout of the target commit's whole tree
(written to a private temporary folder) and returns those paths (POSIX, relative to the
repository's top); each comes back as it was at the target (a file, a folder or a symlink; a
path absent there is removed, and a folder left empty goes with it). Each path outside the folder
that changed is named in an ``Also-Restored:`` trailer (:func:`also_restored` reads them back).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from git import Repo

from reconciler.core.errors import PermanentError, ReconcilerError, WorldError
from reconciler.drivers.git.command import run_git
from reconciler.drivers.git.source import normalise_path, write_tree

__all__ = ["Inputs", "NothingToRollBack", "also_restored", "write_commit"]

#: given the target commit's whole tree on disk, the paths outside the folder the environment reads
Inputs = Callable[[Path], Sequence[str]]
Entry = tuple[str, str, str]  # mode, type, sha

_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_ALSO = re.compile(r"^Also-Restored: (.+)$", re.MULTILINE)


class NothingToRollBack(ReconcilerError):
    """The folder at the branch head is already exactly its content at the target revision."""


def also_restored(message: str) -> list[str]:
    """The paths outside the folder a rollback commit restored (its ``Also-Restored:`` trailers)."""
    return _ALSO.findall(message)


def git_out(cwd: Path, args: Sequence[str], resource: str, timeout: float, stdin: bytes | None = None) -> str:
    """git's stdout, stripped; undecodable bytes (file names) survive as surrogates."""
    out = run_git(args, cwd=cwd, timeout=timeout, resource=resource, input_bytes=stdin)
    return out.decode("utf-8", "surrogateescape").strip()


def resolve(repo: Path, resource: str, rev: str, timeout: float, *, what: str) -> str:
    try:
        return git_out(repo, ["rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"], resource, timeout)
    except WorldError:
        raise PermanentError(resource, f"{what} not found") from None


def _entry(repo: Path, resource: str, rev: str, rel: str, timeout: float) -> Entry | None:
    """(mode, type, sha) of ``rel`` at commit ``rev``; None when absent."""
    if not rel:
        return ("040000", "tree", git_out(repo, ["rev-parse", f"{rev}^{{tree}}"], resource, timeout))
    out = git_out(repo, ["ls-tree", "-z", "--full-tree", rev, "--", rel], resource, timeout).rstrip("\0")
    if not out:
        return None
    mode, kind, sha = out.split("\t", 1)[0].split(" ")
    return (mode, kind, sha)


def _set(repo: Path, resource: str, tree: str | None, parts: list[str], new: Entry | None, timeout: float) -> str:
    """The id of ``tree`` with the entry at ``parts`` made ``new`` (None: removed; a folder left
    empty is removed from its parent), written with mktree."""
    listing = git_out(repo, ["ls-tree", "-z", tree], resource, timeout) if tree else ""
    entries = {e.split("\t", 1)[1]: e for e in listing.split("\0") if e}
    if len(parts) == 1:
        child: Entry | None = new
    else:
        fields = entries.get(parts[0], "").split("\t", 1)[0].split(" ")  # mode type sha
        current = fields[2] if len(fields) == 3 and fields[1] == "tree" else None
        sub = _set(repo, resource, current, parts[1:], new, timeout)
        child = None if sub == _EMPTY_TREE else ("040000", "tree", sub)
    if child is None:
        entries.pop(parts[0], None)
    else:
        entries[parts[0]] = f"{child[0]} {child[1]} {child[2]}\t{parts[0]}"
    stdin = "".join(f"{entry}\0" for entry in entries.values()).encode("utf-8", "surrogateescape")
    return git_out(repo, ["mktree", "-z"], resource, timeout, stdin)


def _outside(repo: Path, resource: str, target: str, rel: str, inputs: Inputs) -> list[str]:
    """The paths ``inputs`` names in the target's tree, outside the folder ``rel``, normalised."""
    with tempfile.TemporaryDirectory(prefix="reconciler-rollback-") as tmp, Repo(repo) as handle:
        top = Path(tmp) / "tree"
        top.mkdir()
        write_tree(handle.commit(target).tree, top, resource)
        named = inputs(top)
    found = []
    for path in named:
        try:
            norm = normalise_path(path, resource=resource)
        except PermanentError:  # outside the repository: not git's to restore
            continue
        if norm and rel and not (norm == rel or norm.startswith(rel + "/") or rel.startswith(norm + "/")):
            found.append(norm)
    return list(dict.fromkeys(found))


def write_commit(
    repo: Path,
    resource: str,
    head: str,
    path: str,
    to_rev: str,
    message: str | None,
    author: dict[str, str],
    timeout: float,
    inputs: Inputs | None = None,
) -> str:
    """Write (objects only, no ref) the rollback commit on top of ``head``; its sha."""
    rel = normalise_path(path, resource=resource)
    target = resolve(repo, resource, to_rev, timeout, what=f"revision {to_rev!r}")
    short, shown = target[:12], rel or "."
    wanted = _entry(repo, resource, target, rel, timeout)
    if wanted is None or wanted[1] != "tree":
        raise PermanentError(resource, f"path {shown!r} is not a folder at commit {short}: nothing to restore")
    extra = _outside(repo, resource, target, rel, inputs) if inputs is not None and rel else []
    changes: list[tuple[str, Entry | None]] = []
    if _entry(repo, resource, head, rel, timeout) != wanted:
        changes.append((rel, wanted))
    for other in extra:
        was = _entry(repo, resource, target, other, timeout)
        if _entry(repo, resource, head, other, timeout) != was:
            changes.append((other, was))
    if not changes:
        outside = f" (nor the {len(extra)} path(s) it reads outside it)" if extra else ""
        raise NothingToRollBack(f"nothing to roll back: {shown} at {head[:12]} is already as at {short}{outside}")
    root = git_out(repo, ["rev-parse", f"{head}^{{tree}}"], resource, timeout)
    for where, entry in changes:
        root = wanted[2] if not where else _set(repo, resource, root, where.split("/"), entry, timeout)
    subject = git_out(repo, ["log", "-1", "--format=%s", target], resource, timeout)
    text = f"Rollback {shown} to {short}: {subject}\n\n" + (f"{message.strip()}\n\n" if message else "")
    text += f"Rollback-To: {target}\n" + "".join(f"Also-Restored: {w}\n" for w, _ in changes if w != rel)
    env = {f"GIT_{who}_{key.upper()}": value for who in ("AUTHOR", "COMMITTER") for key, value in author.items()}
    commit = ["commit-tree", root, "-p", head, "-F", "-"]
    out = run_git(commit, cwd=repo, timeout=timeout, resource=resource, input_bytes=text.encode(), env=env)
    return out.decode().strip()
