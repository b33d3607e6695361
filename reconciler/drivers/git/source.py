"""A git branch as the reconciler's source of desired state. Does I/O (git, files).

:class:`GitSource` keeps a private bare mirror of one repository (a remote URL
or a local path, bare or not) and reads commits only from that mirror. Guarantees:

* **Only committed content.** :meth:`GitSource.checkout` writes the tree of a
  commit, read from the mirror's object database: uncommitted edits, untracked
  files and the index of a local working tree never appear, nor does ``.git``.
* **No half tree.** A checkout is written into a private temporary sibling of
  ``dest`` and renamed into place: ``dest`` either does not exist or is whole.
* **No hang, typed errors, no credential** (see :mod:`reconciler.drivers.git.command`):
  a fetch is killed after ``timeout`` seconds (TemporaryError); a missing
  branch, a path that is not a repository or refused credentials are
  PermanentErrors; every message names the repository with its password
  masked, and the branch. The URL is never written to the mirror's config or
  ``FETCH_HEAD`` (it is passed on the command line).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from git import Repo
from git.exc import GitError
from git.objects import Commit, Tree
from gitdb.exc import BadName, BadObject

from reconciler.core.errors import PermanentError
from reconciler.drivers.git.command import mask_url, run_git

DEFAULT_TIMEOUT = 60.0
_TREE, _FILE, _LINK, _GITLINK = 0o04, 0o10, 0o12, 0o16  # git mode >> 12


@dataclass(frozen=True)
class Revision:
    """One commit: ``author`` is ``"Name <email>"``, ``subject`` the message's first
    line, ``message`` the whole message, ``committed_at`` the committer date (epoch)."""

    sha: str
    author: str
    subject: str
    message: str
    committed_at: float

    @property
    def short(self) -> str:
        return self.sha[:12]


def local_path(url: str) -> Path | None:
    """The directory of a local repository (a path or a ``file://`` URL); None for a remote URL."""
    if url.startswith("file://"):
        try:
            path = urlparse(url).path
        except ValueError:  # an unclosed '[' in the host part
            path = ""
        if not path:
            raise PermanentError(f"repository {mask_url(url)}", "a file:// URL names a folder: file:///srv/gitops")
        return Path(unquote(path))
    if "://" in url or ":" in url.split("/", 1)[0]:  # scheme://... or scp-like host:path
        return None
    return Path(url).expanduser().absolute()


def _resolved(path: Path, url: str) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop: RuntimeError up to Python 3.12, OSError since
        raise PermanentError(f"repository {mask_url(url)}", "is a symlink that leads nowhere (a loop)") from None


def normalise_path(path: str, *, resource: str) -> str:
    """``path`` inside a commit as ``a/b`` (``""`` for the root); refuses absolute and ``..`` paths."""
    parts = [p for p in PurePosixPath(path.strip()).parts if p not in ("", ".")]
    if path.strip().startswith("/") or ".." in parts:
        raise PermanentError(resource, f"path {path!r} must be relative to the repository root, without '..'")
    return "/".join(parts)


def to_revision(commit: Commit) -> Revision:
    raw = commit.message
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    author = f"{commit.author.name} <{commit.author.email}>"
    subject = message.strip().splitlines()[0] if message.strip() else ""
    return Revision(commit.hexsha, author, subject, message, float(commit.committed_date))


class GitSource:
    """The branch ``branch`` of the repository at ``url``, mirrored under ``cache_dir``."""

    def __init__(self, url: str, branch: str, cache_dir: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.branch = branch
        self.timeout = timeout
        self.local = local_path(url)
        self.remote = _resolved(self.local, url) if self.local and not url.startswith("file://") else url
        digest = hashlib.sha256(self.remote.encode()).hexdigest()[:24]
        self.mirror = cache_dir / f"{digest}.git"
        self.resource = f"git repository {mask_url(url)} (branch {branch})"

    # -- fetching -----------------------------------------------------------------
    def fetch(self) -> Revision:
        """Fetch the branch into the mirror (pruned, no tags); its head commit."""
        self._ensure_mirror()
        ref = f"refs/heads/{self.branch}"
        run_git(["check-ref-format", ref], timeout=self.timeout, resource=self.resource)
        fetch = ["-c", "gc.autoDetach=false", "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head"]
        run_git(
            [*fetch, "--", self.remote, f"+{ref}:{ref}"],
            cwd=self.mirror,
            timeout=self.timeout,
            resource=self.resource,
            endpoint=mask_url(self.url),
            mask=[self.url, self.remote],
        )
        return self.revision(ref)

    def _ensure_mirror(self) -> None:
        if (self.mirror / "HEAD").exists():
            return
        self.mirror.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.mirror.name}.", dir=self.mirror.parent))  # 0700
        try:
            run_git(["init", "--quiet", "--bare", str(tmp)], timeout=self.timeout, resource=self.resource)
            os.rename(tmp, self.mirror)
        except OSError:  # another process created it first
            shutil.rmtree(tmp, ignore_errors=True)
            if not (self.mirror / "HEAD").exists():
                raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # -- reading ------------------------------------------------------------------
    @contextmanager
    def _repo(self) -> Iterator[Repo]:
        if not (self.mirror / "HEAD").exists():
            raise PermanentError(self.resource, "nothing fetched yet: call fetch() first")
        with Repo(self.mirror) as repo:
            yield repo

    def _commit(self, repo: Repo, rev: str) -> Commit:
        try:
            return repo.commit(rev)
        except (BadName, BadObject, ValueError, GitError):
            raise PermanentError(self.resource, f"commit {rev!r} not found in what was fetched") from None

    def revision(self, sha: str) -> Revision:
        """The commit ``sha`` (any revision the mirror can resolve)."""
        with self._repo() as repo:
            return to_revision(self._commit(repo, sha))

    def changed(self, old_sha: str, new_sha: str, path: str) -> bool:
        """Whether anything under ``path`` differs between the two commits (tree ids compared)."""
        rel = normalise_path(path, resource=self.resource)
        with self._repo() as repo:
            old, new = self._commit(repo, old_sha), self._commit(repo, new_sha)
            return _entry_sha(old.tree, rel) != _entry_sha(new.tree, rel)

    def checkout(self, sha: str, path: str, dest: Path) -> Path:
        """Write the folder ``path`` of commit ``sha`` (``""``/``"."`` = the root) into ``dest``,
        a new 0700 directory: file bytes and executable bits, symlinks as symlinks, submodules
        as empty folders. ``dest`` must not exist. Raises PermanentError when ``path`` is not a
        folder at that commit."""
        rel = normalise_path(path, resource=self.resource)
        with self._repo() as repo:
            commit = self._commit(repo, sha)
            try:
                tree = commit.tree / rel if rel else commit.tree
            except KeyError:
                tree = None
            if not isinstance(tree, Tree):
                what = "is not a folder" if tree is not None else "does not exist"
                raise PermanentError(self.resource, f"path {rel!r} {what} at commit {commit.hexsha[:12]}")
            if os.path.lexists(dest):
                raise FileExistsError(f"checkout destination {dest} already exists")
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
            try:
                write_tree(tree, tmp, self.resource)
                os.rename(tmp, dest)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return dest

    # -- watching -----------------------------------------------------------------
    def watch_paths(self) -> list[Path]:
        """For a local repository, the files whose change means the branch may have moved
        (its loose ref and ``packed-refs`` in the common git dir); ``[]`` for a remote URL."""
        if self.local is None:
            return []
        try:
            with Repo(self.local) as repo:
                common = Path(repo.common_dir).resolve()
        except GitError:
            raise PermanentError(self.resource, "not a git repository") from None
        return [common / "refs" / "heads" / self.branch, common / "packed-refs"]


def _entry_sha(tree: Tree, rel: str) -> str | None:
    if not rel:
        return tree.hexsha
    try:
        return (tree / rel).hexsha
    except KeyError:
        return None


def write_tree(tree: Tree, directory: Path, resource: str) -> None:
    """Write ``tree`` into the existing folder ``directory`` (files, executable bits, symlinks)."""
    for item in tree:
        name = item.name
        if name in ("", ".", "..") or "/" in name or "\0" in name or name.lower() == ".git":
            raise PermanentError(resource, f"unsafe entry {name!r} in tree {tree.hexsha[:12]}: refused")
        target = directory / name
        kind = item.mode >> 12
        if kind == _TREE and isinstance(item, Tree):
            os.mkdir(target, 0o777)  # the umask applies, as with git checkout
            write_tree(item, target, resource)
        elif kind == _GITLINK:
            os.mkdir(target, 0o777)  # an uninitialised submodule: an empty folder, as git leaves it
        elif kind == _LINK:
            os.symlink(os.fsdecode(item.data_stream.read()), target)
        else:
            mode = 0o777 if item.mode & 0o111 else 0o666
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(item.data_stream, out)
