"""The local git repository an environment folder lives in (for rollback and pin). Does I/O (git).

``reconciler rollback ENV_DIR`` and ``--pin`` name the environment by its folder; this finds
the repository holding it, the folder's path inside it, the branch checked out, the user's
identity for a commit, the ``origin`` URL, and resolves a revision to a full commit sha.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from pathlib import Path

from git import BadName, InvalidGitRepositoryError, NoSuchPathError, Repo

from reconciler.core.errors import PermanentError, ReconcilerError
from reconciler.drivers.git.command import mask_url


@dataclass(frozen=True)
class LocalRepository:
    top: Path  # the working tree's root
    path: str  # the environment folder inside it ("environments/dev")
    branch: str | None  # checked out (None: detached HEAD)
    author_name: str
    author_email: str
    origin: str | None  # the origin remote's URL


def local_repository(env_dir: Path) -> LocalRepository:
    """The repository holding ``env_dir``; ReconcilerError when it is not in one."""
    try:
        repo = Repo(env_dir, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise ReconcilerError(f"{env_dir} is not inside a git repository") from None
    with repo:
        if repo.working_tree_dir is None:
            raise ReconcilerError(f"{env_dir} is in a bare repository")
        top = Path(str(repo.working_tree_dir)).resolve()
        branch = None if repo.head.is_detached else repo.active_branch.name
        config = repo.config_reader()
        user = getpass.getuser()
        name = str(config.get_value("user", "name", user))
        email = str(config.get_value("user", "email", f"{user}@{socket.gethostname()}"))
        origin = next(iter(repo.remote("origin").urls), None) if "origin" in repo.remotes else None
    return LocalRepository(top, env_dir.resolve().relative_to(top).as_posix(), branch, name, email, origin)


def resolve_revision(repository: Path, rev: str) -> str:
    """The full sha of ``rev`` (a sha, a short sha, ``main~2``) in ``repository``."""
    try:
        with Repo(repository) as repo:
            return str(repo.commit(rev).hexsha)
    except (BadName, ValueError, InvalidGitRepositoryError, NoSuchPathError):
        raise PermanentError(f"git {mask_url(str(repository))}", f"revision {rev!r} not found") from None
