"""One commit of file edits on a branch, local or pushed, never forced. Does I/O (git).

The deploy commits (``set-image``, ``promote``, ``image-update``) are built as ``rollback``
builds its commit (:mod:`reconciler.drivers.git.rollback`): with plumbing, from the objects of a
base commit (``hash-object``, ``mktree``, ``commit-tree``), never from an index. An *edit* is a
function of the base (:class:`Snapshot`: a file's bytes, its history) returning the files to
write and the message, or None when there is nothing to change; so when the branch moved it is
simply called again on the new head.

* :func:`commit_local`: on the branch checked out in a working tree. Refused when the tree has
  uncommitted changes to tracked files; the branch moves by compare-and-swap and the working
  tree and index follow (``read-tree -m -u``), as after ``git commit``.
* :func:`commit_pushed`: on a remote's branch, built in a private mirror (:class:`GitSource`)
  on the branch's fetched head and pushed as a fast-forward; refused because the branch moved,
  it is fetched and built again once, and a second refusal raises :class:`BranchMoved`. With
  ``to_branch`` the commit goes to a new branch (a pull request) and a branch of that name that
  exists is a refusal, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import PermanentError, ReconcilerError, WorldError
from reconciler.drivers.git.command import mask_url, run_git
from reconciler.drivers.git.rollback import BranchMoved
from reconciler.drivers.git.source import DEFAULT_TIMEOUT, GitSource

__all__ = ["BranchMoved", "Change", "Committed", "FileChange", "Snapshot", "commit_local", "commit_pushed"]

_MOVED = ("[rejected]", "fetch first", "non-fast-forward", "failed to update ref", "cannot lock ref", "stale info")
HISTORY_LIMIT = 200  # commits of a file's history read for the holds (a rollback's)


@dataclass(frozen=True)
class Change:
    files: dict[str, bytes]  # path in the repository -> new content
    message: str


@dataclass(frozen=True)
class Committed:
    sha: str
    base: str  # the commit it was built on
    branch: str  # where it went
    rebuilt: bool = False  # the branch had moved: built again on its new head
    pushed: bool = False
    behind: bool = False  # pushed, and the local branch could not follow (not at the base, or dirty)


@dataclass(frozen=True)
class FileChange:
    """A commit that changed a file: its message, the file there and in its first parent."""

    sha: str
    message: str
    content: bytes | None
    parent_content: bytes | None


class Snapshot:
    """What an edit reads of its base commit."""

    def __init__(self, repo: Path, sha: str, resource: str, timeout: float) -> None:
        self.repo, self.sha, self.resource, self.timeout = repo, sha, resource, timeout

    def _git(self, args: Sequence[str], stdin: bytes | None = None) -> bytes:
        return run_git(args, cwd=self.repo, timeout=self.timeout, resource=self.resource, input_bytes=stdin)

    def read(self, path: str) -> bytes | None:
        """The file at ``path`` in the base commit; None when there is none."""
        return self._blobs([f"{self.sha}:{path}"])[0]

    def _blobs(self, names: Sequence[str]) -> list[bytes | None]:
        """Objects by name (``rev:path``), one ``cat-file --batch`` for all of them."""
        if not names:
            return []
        out = self._git(["cat-file", "--batch"], "".join(f"{n}\n" for n in names).encode())
        found: list[bytes | None] = []
        pos = 0
        for _ in names:
            end = out.index(b"\n", pos)
            header = out[pos:end].split(b" ")
            if header[-1] == b"missing" or len(header) != 3 or header[1] != b"blob":
                found.append(None)
                pos = end + 1
                continue
            size = int(header[2])
            found.append(out[end + 1 : end + 1 + size])
            pos = end + 1 + size + 1
        return found

    def history(self, path: str, limit: int = HISTORY_LIMIT) -> list[FileChange]:
        """The commits that changed ``path`` up to the base, newest first (at most ``limit``)."""
        log = self._git(["log", f"--max-count={limit}", "--format=%H%x00%P%x00%B%x00", self.sha, "--", path])
        fields = log.decode("utf-8", "replace").split("\x00")
        commits = [(fields[i].strip(), fields[i + 1].split(), fields[i + 2]) for i in range(0, len(fields) - 2, 3)]
        revs = [rev for sha, parents, _ in commits for rev in (sha, *parents[:1])]
        wanted = list(dict.fromkeys(f"{rev}:{path}" for rev in revs))
        found = dict(zip(wanted, self._blobs(wanted), strict=True))
        return [
            FileChange(sha, message, found.get(f"{sha}:{path}"), found.get(f"{parents[0]}:{path}") if parents else None)
            for sha, parents, message in commits
        ]


Edit = Callable[[Snapshot], Change | None]


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def env(self) -> dict[str, str]:
        return {f"GIT_{who}_{key}": value for who in ("AUTHOR", "COMMITTER")
                for key, value in (("NAME", self.name), ("EMAIL", self.email))}  # fmt: skip


def _git(cwd: Path, args: Sequence[str], resource: str, timeout: float, stdin: bytes | None = None) -> str:
    return run_git(args, cwd=cwd, timeout=timeout, resource=resource, input_bytes=stdin).decode().strip()


def _with_file(repo: Path, tree: str, parts: list[str], content: bytes, resource: str, timeout: float) -> str:
    """The id of ``tree`` with the file at ``parts`` holding ``content`` (its mode kept)."""
    listing = _git(repo, ["ls-tree", "-z", tree], resource, timeout) if tree else ""
    entries = {e.split("\t", 1)[1]: e for e in listing.split("\0") if e}
    mode, kind, sha = [*entries.get(parts[0], "").split("\t", 1)[0].split(" "), "", "", ""][:3]
    if len(parts) == 1:
        blob = _git(repo, ["hash-object", "-w", "--stdin"], resource, timeout, content)
        entries[parts[0]] = f"{mode if kind == 'blob' else '100644'} blob {blob}\t{parts[0]}"
    else:
        sub = _with_file(repo, sha if kind == "tree" else "", parts[1:], content, resource, timeout)
        entries[parts[0]] = f"040000 tree {sub}\t{parts[0]}"
    stdin = "".join(f"{entry}\0" for entry in entries.values()).encode()
    return _git(repo, ["mktree", "-z"], resource, timeout, stdin)


def _build(repo: Path, head: str, edit: Edit, author: Author, resource: str, timeout: float) -> str | None:
    """Write (objects only) the commit of ``edit`` on ``head``; None when it changes nothing."""
    change = edit(Snapshot(repo, head, resource, timeout))
    if change is None or not change.files:
        return None
    tree = _git(repo, ["rev-parse", f"{head}^{{tree}}"], resource, timeout)
    for path, content in sorted(change.files.items()):
        tree = _with_file(repo, tree, path.split("/"), content, resource, timeout)
    if tree == _git(repo, ["rev-parse", f"{head}^{{tree}}"], resource, timeout):
        return None
    out = run_git(["commit-tree", tree, "-p", head, "-F", "-"], cwd=repo, timeout=timeout, resource=resource,
                  input_bytes=change.message.encode(), env=author.env())  # fmt: skip
    return out.decode().strip()


def check_clean(top: Path, branch: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Refuse a working tree with uncommitted changes to tracked files (staged or not)."""
    resource = f"git repository {top} (branch {branch})"
    if _git(top, ["status", "--porcelain", "--untracked-files=no"], resource, timeout):
        raise PermanentError(resource, "the working tree has uncommitted changes: commit or stash them "
                             "(git stash) and try again; nothing was committed or pushed")  # fmt: skip


def commit_local(top: Path, branch: str, edit: Edit, author: Author, *, timeout: float = DEFAULT_TIMEOUT) -> Committed:
    """Commit ``edit`` on ``branch``, checked out in the clean working tree ``top``; raises
    ReconcilerError (nothing written) when the tree is dirty or the edit changes nothing."""
    resource = f"git repository {top} (branch {branch})"
    check_clean(top, branch, timeout=timeout)
    ref = f"refs/heads/{branch}"
    head = _git(top, ["rev-parse", "--verify", f"{ref}^{{commit}}"], resource, timeout)
    new = _build(top, head, edit, author, resource, timeout)
    if new is None:
        raise NothingToCommit(f"nothing to commit: {top.name} at {head[:12]} already has it")
    try:
        _git(top, ["update-ref", "-m", "reconciler commit", ref, new, head], resource, timeout)
    except WorldError as exc:
        raise BranchMoved(resource, f"the branch moved meanwhile ({exc.message}); nothing was committed") from None
    _git(top, ["read-tree", "-m", "-u", head, new], resource, timeout)
    return Committed(new, head, branch)


def commit_pushed(url: str, branch: str, edit: Edit, author: Author, *, work_dir: Path, to_branch: str | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Committed:  # fmt: skip
    """Commit ``edit`` on the head of ``url``'s ``branch`` and push it there (or to the new branch
    ``to_branch``) as a fast-forward: built again once if the branch moved (see the module)."""
    source = GitSource(url, branch, work_dir, timeout=timeout)
    target = to_branch or branch
    if to_branch is not None:
        try:
            run_git(["check-ref-format", f"refs/heads/{to_branch}"], timeout=timeout, resource=source.resource)
        except WorldError:
            raise PermanentError(source.resource, f"{to_branch!r} is not a valid branch name") from None
        listed = run_git(["ls-remote", "--heads", "--", source.remote, f"refs/heads/{to_branch}"],
                         timeout=timeout, resource=source.resource, endpoint=mask_url(url), mask=[url])  # fmt: skip
        if listed.strip():
            raise PermanentError(source.resource, f"branch {to_branch} already exists on the remote: name a new "
                                 "branch for the pull request; nothing was pushed")  # fmt: skip
    for attempt in (1, 2):
        head = source.fetch().sha
        new = _build(source.mirror, head, edit, author, source.resource, timeout)
        if new is None:
            raise NothingToCommit(f"nothing to commit: branch {branch} at {head[:12]} already has it")
        try:
            run_git(["push", "--quiet", "--", source.remote, f"{new}:refs/heads/{target}"], cwd=source.mirror,
                    timeout=timeout, resource=source.resource, endpoint=mask_url(url), mask=[url])  # fmt: skip
        except WorldError as exc:
            if not any(marker in exc.message for marker in _MOVED):
                raise
            if attempt == 1 and to_branch is None:
                continue
            raise BranchMoved(source.resource, f"the branch moved twice while committing (push refused: "
                              f"{exc.message}); nothing was pushed, try again") from None  # fmt: skip
        return Committed(new, head, target, rebuilt=attempt == 2, pushed=True)
    raise AssertionError("unreachable")


def follow_pushed(top: Path, url: str, branch: str, committed: Committed, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Move the local ``branch`` checked out in ``top`` to a commit pushed to ``url``, when it stands at
    the commit's base with a clean tree (a fast-forward, as ``git pull`` would); whether it moved."""
    resource = f"git repository {top} (branch {branch})"
    ref = f"refs/heads/{branch}"
    try:
        if _git(top, ["status", "--porcelain", "--untracked-files=no"], resource, timeout):
            return False
        if _git(top, ["rev-parse", "--verify", ref], resource, timeout) != committed.base:
            return False
        run_git(["fetch", "--quiet", "--no-tags", "--", url, f"refs/heads/{committed.branch}"], cwd=top,
                timeout=timeout, resource=resource, mask=[url])  # fmt: skip
        _git(top, ["cat-file", "-e", f"{committed.sha}^{{commit}}"], resource, timeout)
        _git(top, ["update-ref", "-m", "reconciler: follow the pushed commit", ref, committed.sha, committed.base],
             resource, timeout)  # fmt: skip
        _git(top, ["read-tree", "-m", "-u", committed.base, committed.sha], resource, timeout)
    except WorldError:
        return False
    return True


class NothingToCommit(ReconcilerError):
    """The edit changes nothing at the branch head."""
