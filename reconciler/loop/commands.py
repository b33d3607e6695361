"""The GitOps commands besides ``run``: status (the loop's part), history, suspend/resume,
rollback (a commit, or a pin) and unpin. Does I/O (the state store, git); their output is
rendered by :mod:`reconciler.render.gitops`.

Each names the environment by its folder, like every command: its specs give the
environment's name and where its state store is (``stateStore``). Suspend, resume,
pin and unpin are single admin writes that need no lease: they work while a loop
holds it and it honours them at its next tick (a pinned commit is checked out whole, as
the loop checks out every commit). A rollback by commit writes a commit on the branch
that restores the folder's content at REV and the files outside it that the environment
read at REV (an ``include`` or ``extends`` of ``../shared``), so the loop applies it as
any deploy and the history shows it (nothing fights the loop).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import ReconcilerError
from reconciler.state import StateStore

Say = Callable[[str], None]


def _store(env_dir: Path, overrides: Overrides) -> tuple[Settings, StateStore]:
    from reconciler import app
    from reconciler.app.statestore import open_state_store

    settings = app.environment_settings(env_dir, overrides)
    return settings, open_state_store(settings)


def loop_status(env_dir: Path, overrides: Overrides, fmt: str) -> str:
    settings, store = _store(env_dir, overrides)
    status = store.read_status(settings.environment)
    lease = store.holder(settings.environment)
    holder = lease.describe() if lease is not None else None
    from reconciler.render.gitops import status_json, status_text

    return status_json(status, holder) if fmt == "json" else status_text(status, holder)


def history(env_dir: Path, overrides: Overrides, limit: int, fmt: str) -> str:
    settings, store = _store(env_dir, overrides)
    entries = store.history(settings.environment, limit)
    from reconciler.render.gitops import history_json, history_text

    return history_json(entries) if fmt == "json" else history_text(settings.environment, entries)


def suspend(env_dir: Path, overrides: Overrides, suspended: bool) -> str:
    settings, store = _store(env_dir, overrides)
    store.set_suspended(settings.environment, suspended)
    if suspended:
        return f"{settings.environment} suspended: the loop observes and reports, and acts on nothing"
    return f"{settings.environment} resumed: the loop acts again at its next tick"


def pin(env_dir: Path, overrides: Overrides, sha: str | None) -> str:
    settings, store = _store(env_dir, overrides)
    if sha is None:
        store.set_pin(settings.environment, None)
        return f"{settings.environment} unpinned: the loop returns to the head of its branch"
    full = _resolve_revision(env_dir, sha)
    store.set_pin(settings.environment, full)
    return f"{settings.environment} pinned to {full[:12]}: the loop applies it until `reconciler unpin`"


def _resolve_revision(env_dir: Path, rev: str) -> str:
    from reconciler.drivers.git.local import local_repository, resolve_revision

    return resolve_revision(local_repository(env_dir).top, rev)


def _inputs_at(rel: str) -> Callable[[Path], list[str]]:
    """Given a commit's whole tree, the files outside the folder ``rel`` its environment reads
    there (none when its specs do not load at that commit: the folder alone comes back)."""

    def read(top: Path) -> list[str]:
        from reconciler.core.errors import SpecError
        from reconciler.spec.inputs import environment_inputs, relative_inputs

        try:
            return list(relative_inputs(environment_inputs(top.joinpath(*rel.split("/"))), top))
        except SpecError:
            return []

    return read


def rollback(
    env_dir: Path,
    to: str,
    *,
    branch: str | None,
    push: bool,
    message: str | None,
    state_dir: Path,
    folder_only: bool = False,
) -> str:
    """A commit on the branch that restores the environment folder to its content at ``to``, and the
    files outside it that the environment reads there (unless ``folder_only``)."""
    from reconciler.drivers.git.local import local_repository
    from reconciler.drivers.git.rollback import also_restored, restore_commit

    local = local_repository(env_dir)
    name = branch or local.branch
    if name is None:
        raise ReconcilerError(f"{local.top} has no branch checked out (detached HEAD): give --branch")
    url = str(local.top)
    if push:
        if local.origin is None:
            raise ReconcilerError(f"{local.top} has no origin remote to push to")
        url = local.origin
    commit = restore_commit(url, name, local.path, to, message=message, author_name=local.author_name,
                            author_email=local.author_email, push=push, work_dir=state_dir / "rollback",
                            inputs=None if folder_only else _inputs_at(local.path))  # fmt: skip
    where = f"pushed to origin's {name}" if push else f"on branch {name} of {local.top}"
    also = also_restored(commit.message)
    outside = (
        f"; also restored, outside the folder: {', '.join(also)} (every environment reading them changes too)"
        if also
        else ""
    )
    return (
        f"rolled back {local.path} to {to}: commit {commit.sha[:12]} {commit.subject!r} ({where}){outside}; "
        "the loop applies it as any deploy"
    )


__all__ = ["history", "loop_status", "pin", "rollback", "suspend"]
