"""The loop's records as output: the GitOps status (conditions, revisions, the lease) and the
history, as text for a terminal and as JSON for machines. Pure.

The JSON forms are the state store's own records (:mod:`reconciler.state.codec`)
without their storage version, plus the environment and the lease holder for the
status; secrets never reach them (messages are redacted before they are stored).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from reconciler.state import EnvironmentStatus, HistoryEntry
from reconciler.state.codec import entry_to_json, status_to_json

__all__ = ["history_json", "history_text", "status_json", "status_text"]


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
    data = json.loads(status_to_json(status))
    data.pop("v", None)
    data["environment"] = status.environment
    data["lease"] = holder
    return json.dumps(data, indent=2, sort_keys=True)


def history_text(environment: str, entries: Sequence[HistoryEntry]) -> str:
    """One entry a paragraph, newest first: when, revision, result, duration, trigger, actor, why."""
    if not entries:
        return f"no history for {environment} yet"
    return "\n".join(_entry_line(e) for e in entries)


def history_json(entries: Sequence[HistoryEntry]) -> str:
    return json.dumps([_entry_dict(entry_to_json(e)) for e in entries], indent=2)


def _entry_dict(text: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(text)
    data.pop("v", None)
    return data


def _entry_line(e: HistoryEntry) -> str:
    rev = e.revision.sha[:12] if e.revision is not None else "(local folder)"
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(e.actions.items())) or "no action"
    line = f"{_when(e.started_at)}  {rev}  {e.result.value:<9} {e.duration:6.1f}s  {e.trigger.value} by {e.actor}"
    line += f"\n    {counts}; why: {e.reason}"
    for address, outcome in sorted(e.jobs.items()):
        line += f"\n    {address}: " + outcome.replace("\n", "\n      ")
    if e.error:
        line += f"\n    error: {e.error}"
    return line
