"""Rollback by commit: one new commit restoring a folder to its content at an earlier revision. Does I/O (git).

:func:`restore_commit` writes a commit on the branch whose folder ``path`` is,
byte for byte, the folder at ``to_rev`` (the very tree object, so comments and
formatting come back as they were; files are added, removed and changed back),
with the files outside it that the environment read at ``to_rev`` (``inputs``: a
compose file's ``include`` and ``extends`` of ``../shared``, see :mod:`.restore`),
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

from pathlib import Path

from git import Repo

from reconciler.core.errors import PermanentError, TemporaryError, WorldError
from reconciler.drivers.git.command import mask_url, run_git
from reconciler.drivers.git.restore import Inputs, NothingToRollBack, also_restored, git_out, resolve, write_commit
from reconciler.drivers.git.source import DEFAULT_TIMEOUT, GitSource, Revision, local_path, to_revision

__all__ = ["BranchMoved", "Inputs", "NothingToRollBack", "also_restored", "restore_commit"]

# a push refused because the branch is no longer where we read it (not a hook's or a permission's refusal)
_MOVED = ("[rejected]", "fetch first", "non-fast-forward", "failed to update ref", "cannot lock ref", "stale info")


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
    inputs: Inputs | None = None,
) -> Revision:
    """Write the rollback commit (see the module); the new commit. Its message is
    ``Rollback <path> to <short sha>: <subject of to_rev>``, then ``message`` (why) if given,
    then a ``Rollback-To: <sha>`` trailer. ``to_rev`` is any revision git resolves in the
    branch's repository (full or short sha, ``main~2``). With ``expected_head`` (the head a
    user reviewed) it raises BranchMoved, without retrying, if the branch is elsewhere.
    With ``inputs`` the files outside ``path`` that the environment reads at ``to_rev`` are restored
    too (:mod:`.restore`). Raises NothingToRollBack when nothing to restore differs."""
    author = {"name": author_name, "email": author_email}
    local = local_path(url)
    if local is not None and not url.startswith("file://"):
        return _restore_local(local, url, branch, path, to_rev, message, author, expected_head, timeout, inputs)
    source = GitSource(url, branch, work_dir, timeout=timeout)
    for attempt in (1, 2):
        head = source.fetch()
        _check_expected(head.sha, expected_head, source.resource)
        new = write_commit(source.mirror, source.resource, head.sha, path, to_rev, message, author, timeout, inputs)
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
    inputs: Inputs | None,
) -> Revision:
    resource = f"git repository {mask_url(url)} (branch {branch})"
    ref = f"refs/heads/{branch}"
    try:
        git_out(repo, ["rev-parse", "--git-dir"], resource, timeout)
    except WorldError:
        raise PermanentError(resource, "not a git repository") from None
    head = resolve(repo, resource, ref, timeout, what=f"branch {branch!r}")
    _check_expected(head, expected_head, resource)
    worktree = _checked_out_in(repo, ref, resource, timeout)
    if worktree is not None and git_out(worktree, ["status", "--porcelain", "--untracked-files=no"], resource, timeout):
        raise PermanentError(
            resource,
            f"branch {branch} is checked out in {worktree} with uncommitted changes: commit or stash them"
            " (git stash), or roll back on a clone, then try again; nothing was written",
        )
    new = write_commit(repo, resource, head, path, to_rev, message, author, timeout, inputs)
    if worktree is not None:  # would moving the working tree along lose anything? (nothing written yet)
        try:
            git_out(worktree, ["read-tree", "-n", "-m", "-u", head, new], resource, timeout)
        except WorldError as exc:
            raise PermanentError(resource, f"the working tree {worktree} would lose files: {exc.message}") from None
    try:
        git_out(repo, ["update-ref", "-m", f"reconciler rollback of {path}", ref, new, head], resource, timeout)
    except WorldError as exc:
        raise BranchMoved(
            resource, f"the branch moved while rolling back: {exc.message}; nothing was changed"
        ) from None
    if worktree is not None:
        try:
            git_out(worktree, ["read-tree", "-m", "-u", head, new], resource, timeout)
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


def _checked_out_in(repo: Path, ref: str, resource: str, timeout: float) -> Path | None:
    """The working tree (main or linked) where ``ref`` is checked out, if any."""
    for block in git_out(repo, ["worktree", "list", "--porcelain"], resource, timeout).split("\n\n"):
        lines = block.splitlines()
        if f"branch {ref}" in lines and "bare" not in lines:
            return Path(lines[0].removeprefix("worktree "))
    return None
