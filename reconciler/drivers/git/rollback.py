"""Rollback by commit: one new commit restoring a folder to its content at an earlier revision. Does I/O (git).

:func:`restore_commit` writes a commit on the branch whose folder ``path`` is,
byte for byte, the folder at ``to_rev`` (the very tree object, so comments and
formatting come back as they were; files are added, removed and changed back)
and whose everything else is the branch head's. The loop then deploys it as
any other commit, and history shows it: a rollback never fights the loop.

The commit is built with plumbing (``ls-tree``/``mktree``/``commit-tree``) from
tree objects, never from a working tree or an index, and the branch moves
only by compare-and-swap on the head it was built on. Nothing is ever forced.

* **Remote** (any URL, ``file://`` included): fetched into a mirror under
  ``work_dir``; with ``push=True`` pushed as a fast-forward (no force). If the
  branch moved meanwhile, the rollback is rebuilt on the new head and pushed
  once more; a second refusal raises :class:`BranchMoved`. With ``push=False``
  the commit exists only in the mirror (a preview).
* **Local path** (bare or not; ``push`` is ignored): the branch ref is updated
  in place with ``update-ref <ref> <new> <old>``. When the branch is checked
  out in a working tree, that tree is moved along like ``git checkout`` (git's
  own ``receive.denyCurrentBranch=updateInstead`` behaviour): refused first if
  it has uncommitted changes to tracked files, or if an untracked file would be
  overwritten, so no edit is ever lost and the working tree never shows the
  rollback as reverse changes (which a later ``git commit -a`` would undo).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from git import Repo

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError, WorldError
from reconciler.drivers.git.command import mask_url, run_git
from reconciler.drivers.git.source import (
    DEFAULT_TIMEOUT,
    GitSource,
    Revision,
    local_path,
    normalise_path,
    to_revision,
)

# a push refused because the branch is no longer where we read it (not a hook's or a permission's refusal)
_MOVED = ("[rejected]", "fetch first", "non-fast-forward", "failed to update ref", "cannot lock ref", "stale info")


class NothingToRollBack(ReconcilerError):
    """The folder at the branch head is already exactly its content at the target revision."""


class BranchMoved(TemporaryError):
    """The branch is no longer at the head the rollback was built on: nothing was written."""


def restore_commit(
    url: str,
    branch: str,
    path: str,
    to_rev: str,
    *,
    message: str | None = None,
    author_name: str,
    author_email: str,
    push: bool = False,
    work_dir: Path,
    expected_head: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Revision:
    """Write the rollback commit (see the module); the new commit. Its message is
    ``Rollback <path> to <short sha>: <subject of to_rev>``, then ``message`` (why) if given,
    then a ``Rollback-To: <sha>`` trailer. ``to_rev`` is any revision git resolves in the
    branch's repository (full or short sha, ``main~2``). With ``expected_head`` (the head a
    user reviewed) it raises BranchMoved, without retrying, if the branch is elsewhere.
    Raises NothingToRollBack when nothing under ``path`` differs."""
    author = {"name": author_name, "email": author_email}
    local = local_path(url)
    if local is not None and not url.startswith("file://"):
        return _restore_local(local, url, branch, path, to_rev, message, author, expected_head, timeout)
    source = GitSource(url, branch, work_dir, timeout=timeout)
    for attempt in (1, 2):
        head = source.fetch()
        _check_expected(head.sha, expected_head, source.resource)
        new = _write_commit(source.mirror, source.resource, head.sha, path, to_rev, message, author, timeout)
        if not push:
            return source.revision(new)
        try:
            run_git(
                ["push", "--quiet", "--", source.remote, f"{new}:refs/heads/{branch}"],
                cwd=source.mirror,
                timeout=timeout,
                resource=source.resource,
                endpoint=mask_url(url),
                mask=[url],
            )
        except WorldError as exc:
            if not any(marker in exc.message for marker in _MOVED):
                raise
            if attempt == 1 and expected_head is None:
                continue
            raise BranchMoved(
                source.resource, f"the branch moved while rolling back (push refused: {exc.message})"
            ) from None
        return source.revision(new)
    raise AssertionError("unreachable")


def _restore_local(
    repo: Path,
    url: str,
    branch: str,
    path: str,
    to_rev: str,
    message: str | None,
    author: dict[str, str],
    expected_head: str | None,
    timeout: float,
) -> Revision:
    resource = f"git repository {mask_url(url)} (branch {branch})"
    ref = f"refs/heads/{branch}"
    try:
        _git(repo, ["rev-parse", "--git-dir"], resource, timeout)
    except WorldError:
        raise PermanentError(resource, "not a git repository") from None
    head = _resolve(repo, resource, ref, timeout, what=f"branch {branch!r}")
    _check_expected(head, expected_head, resource)
    worktree = _checked_out_in(repo, ref, resource, timeout)
    if worktree is not None and _git(worktree, ["status", "--porcelain", "--untracked-files=no"], resource, timeout):
        raise PermanentError(
            resource,
            f"branch {branch} is checked out in {worktree} with uncommitted changes: commit or stash them"
            " (git stash), or roll back on a clone, then try again; nothing was written",
        )
    new = _write_commit(repo, resource, head, path, to_rev, message, author, timeout)
    if worktree is not None:  # would moving the working tree along lose anything? (nothing written yet)
        try:
            _git(worktree, ["read-tree", "-n", "-m", "-u", head, new], resource, timeout)
        except WorldError as exc:
            raise PermanentError(resource, f"the working tree {worktree} would lose files: {exc.message}") from None
    try:
        _git(repo, ["update-ref", "-m", f"reconciler rollback of {path}", ref, new, head], resource, timeout)
    except WorldError as exc:
        raise BranchMoved(
            resource, f"the branch moved while rolling back: {exc.message}; nothing was changed"
        ) from None
    if worktree is not None:
        try:
            _git(worktree, ["read-tree", "-m", "-u", head, new], resource, timeout)
        except WorldError as exc:  # edited in the instant since the dry run: the commit stays, say how to finish
            raise PermanentError(
                resource,
                f"rolled back as {new[:12]}, but the working tree {worktree} was not updated ({exc.message}):"
                f" it shows the rollback as reverse changes until `git read-tree -m -u {head[:12]} {new[:12]}`",
            ) from None
    with Repo(repo) as handle:
        return to_revision(handle.commit(new))


def _check_expected(head: str, expected: str | None, resource: str) -> None:
    if expected and not (len(expected) >= 7 and head.startswith(expected)):
        raise BranchMoved(
            resource, f"the branch is at {head[:12]}, not at {expected[:12]} as expected; nothing written"
        )


def _git(cwd: Path, args: Sequence[str], resource: str, timeout: float, stdin: bytes | None = None) -> str:
    """git's stdout, stripped; undecodable bytes (file names) survive as surrogates (see _replace)."""
    out = run_git(args, cwd=cwd, timeout=timeout, resource=resource, input_bytes=stdin)
    return out.decode("utf-8", "surrogateescape").strip()


def _resolve(repo: Path, resource: str, rev: str, timeout: float, *, what: str) -> str:
    try:
        return _git(repo, ["rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"], resource, timeout)
    except WorldError:
        raise PermanentError(resource, f"{what} not found") from None


def _checked_out_in(repo: Path, ref: str, resource: str, timeout: float) -> Path | None:
    """The working tree (main or linked) where ``ref`` is checked out, if any."""
    for block in _git(repo, ["worktree", "list", "--porcelain"], resource, timeout).split("\n\n"):
        lines = block.splitlines()
        if f"branch {ref}" in lines and "bare" not in lines:
            return Path(lines[0].removeprefix("worktree "))
    return None


def _entry(repo: Path, resource: str, rev: str, rel: str, timeout: float) -> tuple[str, str] | None:
    """(type, sha) of ``rel`` at commit ``rev``; None when absent."""
    if not rel:
        return ("tree", _git(repo, ["rev-parse", f"{rev}^{{tree}}"], resource, timeout))
    out = _git(repo, ["ls-tree", "-z", "--full-tree", rev, "--", rel], resource, timeout).rstrip("\0")
    if not out:
        return None
    _mode, kind, sha = out.split("\t", 1)[0].split(" ")
    return (kind, sha)


def _replace(repo: Path, resource: str, tree: str | None, parts: list[str], subtree: str, timeout: float) -> str:
    """The id of ``tree`` with the folder at ``parts`` replaced by ``subtree`` (written with mktree)."""
    listing = _git(repo, ["ls-tree", "-z", tree], resource, timeout) if tree else ""
    entries = {e.split("\t", 1)[1]: e for e in listing.split("\0") if e}
    fields = entries.get(parts[0], "").split("\t", 1)[0].split(" ")  # mode type sha
    child_tree = fields[2] if len(fields) == 3 and fields[1] == "tree" else None
    sha = subtree if len(parts) == 1 else _replace(repo, resource, child_tree, parts[1:], subtree, timeout)
    entries[parts[0]] = f"040000 tree {sha}\t{parts[0]}"
    stdin = "".join(f"{entry}\0" for entry in entries.values()).encode("utf-8", "surrogateescape")
    return _git(repo, ["mktree", "-z"], resource, timeout, stdin)


def _write_commit(
    repo: Path,
    resource: str,
    head: str,
    path: str,
    to_rev: str,
    message: str | None,
    author: dict[str, str],
    timeout: float,
) -> str:
    """Write (objects only, no ref) the rollback commit on top of ``head``; its sha."""
    rel = normalise_path(path, resource=resource)
    target = _resolve(repo, resource, to_rev, timeout, what=f"revision {to_rev!r}")
    short, shown = target[:12], rel or "."
    wanted = _entry(repo, resource, target, rel, timeout)
    if wanted is None or wanted[0] != "tree":
        raise PermanentError(resource, f"path {shown!r} is not a folder at commit {short}: nothing to restore")
    if _entry(repo, resource, head, rel, timeout) == wanted:
        raise NothingToRollBack(f"nothing to roll back: {shown} at {head[:12]} is already as at {short}")
    root = wanted[1] if not rel else _replace(repo, resource, f"{head}^{{tree}}", rel.split("/"), wanted[1], timeout)
    subject = _git(repo, ["log", "-1", "--format=%s", target], resource, timeout)
    text = f"Rollback {shown} to {short}: {subject}\n\n" + (f"{message.strip()}\n\n" if message else "")
    text += f"Rollback-To: {target}\n"
    env = {f"GIT_{who}_{key.upper()}": value for who in ("AUTHOR", "COMMITTER") for key, value in author.items()}
    commit = ["commit-tree", root, "-p", head, "-F", "-"]
    out = run_git(commit, cwd=repo, timeout=timeout, resource=resource, input_bytes=text.encode(), env=env)
    return out.decode().strip()
