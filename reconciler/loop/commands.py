"""The GitOps commands besides ``run``: status (the loop's part), history, suspend/resume,
rollback (a commit, or a pin) and unpin. Does I/O (the state store, git).

Each names the environment by its folder, like every command: its specs give the
environment's name and where its state store is (``stateStore``). Suspend, resume,
pin and unpin are single admin writes that need no lease: they work while a loop
holds it and it honours them at its next tick. A rollback by commit writes a commit
on the branch that restores the folder's content at REV, so the loop applies it as
any deploy and the history shows it (nothing fights the loop).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import ReconcilerError
from reconciler.state import EnvironmentStatus, HistoryEntry, StateStore

Say = Callable[[str], None]


def _store(env_dir: Path, overrides: Overrides) -> tuple[Settings, StateStore]:
    from reconciler import app
    from reconciler.app.statestore import open_state_store

    settings = app.environment_settings(env_dir, overrides)
    return settings, open_state_store(settings)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_text(status: EnvironmentStatus, holder: str | None) -> str:
    """The loop's view of the environment: conditions, revisions, last error, lease."""
    lines = [f"GitOps status of {status.environment} (updated {_when(status.updated_at)})"]
    if not status.conditions and status.last_attempted is None:
        lines.append("  no loop has recorded anything yet (reconciler run)")
    for c in status.conditions:
        message = f": {c.message}" if c.message else ""
        lines.append(f"  {c.type.value:<12} {c.status.value:<7} {c.reason} since {_when(c.last_transition)}{message}")
    for label, rev in (("last applied", status.last_applied), ("last attempted", status.last_attempted)):
        if rev is not None:
            lines.append(f"  {label}: {rev.sha[:12]} {rev.message!r} by {rev.author} ({_when(rev.committed_at)})")
    if status.last_error:
        lines.append(f"  last error: {status.last_error}")
    for key in sorted(status.failed_revisions):
        lines.append(f"  failed revision (not retried until it changes): {key.split('@')[0][:12]}")
    if status.suspended:
        lines.append("  suspended: the loop observes and reports, and acts on nothing (reconciler resume)")
    if status.pin:
        lines.append(f"  pinned to {status.pin[:12]} (reconciler unpin returns to the branch head)")
    for address in sorted(status.resources):
        for c in status.resources[address]:
            if c.status.value == "True":
                lines.append(f"  {address}: {c.type.value} ({c.reason}): {c.message}")
    lines.append(f"  lease: {holder or 'free'}")
    return "\n".join(lines)


def status_json(status: EnvironmentStatus, holder: str | None) -> str:
    from reconciler.state.codec import status_to_json

    data = json.loads(status_to_json(status))
    data.pop("v", None)
    data["environment"] = status.environment
    data["lease"] = holder
    return json.dumps(data, indent=2, sort_keys=True)


def loop_status(env_dir: Path, overrides: Overrides, fmt: str) -> str:
    settings, store = _store(env_dir, overrides)
    status = store.read_status(settings.environment)
    lease = store.holder(settings.environment)
    holder = lease.describe() if lease is not None else None
    return status_json(status, holder) if fmt == "json" else status_text(status, holder)


def history(env_dir: Path, overrides: Overrides, limit: int, fmt: str) -> str:
    settings, store = _store(env_dir, overrides)
    entries = store.history(settings.environment, limit)
    if fmt == "json":
        from reconciler.state.codec import entry_to_json

        return json.dumps([_entry_dict(entry_to_json(e)) for e in entries], indent=2)
    if not entries:
        return f"no history for {settings.environment} yet"
    return "\n".join(_entry_line(e) for e in entries)


def _entry_dict(text: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(text)
    data.pop("v", None)
    return data


def _entry_line(e: HistoryEntry) -> str:
    rev = e.revision.sha[:12] if e.revision is not None else "(local folder)"
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(e.actions.items())) or "no action"
    line = f"{_when(e.started_at)}  {rev}  {e.result.value:<9} {e.duration:6.1f}s  {e.trigger.value} by {e.actor}"
    line += f"\n    {counts}; why: {e.reason}"
    if e.error:
        line += f"\n    error: {e.error}"
    return line


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


def rollback(env_dir: Path, to: str, *, branch: str | None, push: bool, message: str | None, state_dir: Path) -> str:
    """A commit on the branch that restores the environment folder to its content at ``to``."""
    from reconciler.drivers.git.local import local_repository
    from reconciler.drivers.git.rollback import restore_commit

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
                            author_email=local.author_email, push=push, work_dir=state_dir / "rollback")  # fmt: skip
    where = f"pushed to origin's {name}" if push else f"on branch {name} of {local.top}"
    return (
        f"rolled back {local.path} to {to}: commit {commit.sha[:12]} {commit.subject!r} ({where}); "
        "the loop applies it as any deploy"
    )


__all__ = ["history", "loop_status", "pin", "rollback", "status_text", "suspend"]
