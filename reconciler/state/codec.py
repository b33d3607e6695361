"""The JSON form of status and history entries, as both backends store them. Pure.

Versioned (``"v": 1``) so a store written by an older reconciler stays
readable; unknown keys are ignored and missing ones take their defaults.
Times are floats (epoch seconds) and survive the round trip exactly (JSON
writes a float's shortest repr). The lease is not stored here: each backend
keeps it in native columns/attributes so its conditions can test them.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.state.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Result,
    Revision,
    Trigger,
)

VERSION = 1


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps({"v": VERSION, **data}, sort_keys=True, separators=(",", ":"))


def _condition(c: Condition) -> dict[str, Any]:
    return {
        "type": c.type.value,
        "status": c.status.value,
        "reason": c.reason,
        "message": c.message,
        "last_transition": c.last_transition,
    }


def _condition_from(d: dict[str, Any]) -> Condition:
    return Condition(
        ConditionType(d["type"]),
        ConditionStatus(d["status"]),
        str(d.get("reason", "")),
        str(d.get("message", "")),
        float(d["last_transition"]),
    )


def _revision(r: Revision | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"sha": r.sha, "author": r.author, "message": r.message, "committed_at": r.committed_at}


def _revision_from(d: dict[str, Any] | None) -> Revision | None:
    if not d:
        return None
    return Revision(str(d["sha"]), str(d.get("author", "")), str(d.get("message", "")), float(d["committed_at"]))


def status_to_json(status: EnvironmentStatus) -> str:
    """The status without the admin fields ``suspended`` and ``pin`` (the stores keep those apart)."""
    return _dumps(
        {
            "environment": status.environment,
            "conditions": [_condition(c) for c in status.conditions],
            "last_applied": _revision(status.last_applied),
            "last_attempted": _revision(status.last_attempted),
            "last_error": status.last_error,
            "failed_revisions": sorted(status.failed_revisions),
            "resources": {a: [_condition(c) for c in cs] for a, cs in sorted(status.resources.items())},
            "updated_at": status.updated_at,
            "unreachable": dict(sorted(status.unreachable.items())),
        }
    )


def status_from_json(
    text: str | None, environment: str, *, suspended: bool = False, pin: str | None = None
) -> EnvironmentStatus:
    """Parse :func:`status_to_json` (``None``: nothing written yet), with the admin fields given."""
    d: dict[str, Any] = json.loads(text) if text else {}
    updated = d.get("updated_at")
    return EnvironmentStatus(
        environment=environment,
        conditions=tuple(_condition_from(c) for c in d.get("conditions", [])),
        last_applied=_revision_from(d.get("last_applied")),
        last_attempted=_revision_from(d.get("last_attempted")),
        last_error=d.get("last_error"),
        failed_revisions=frozenset(d.get("failed_revisions", [])),
        suspended=suspended,
        pin=pin,
        resources={a: tuple(_condition_from(c) for c in cs) for a, cs in d.get("resources", {}).items()},
        updated_at=float(updated) if updated is not None else None,
        unreachable={str(k): int(v) for k, v in d.get("unreachable", {}).items()},
    )


def entry_to_json(entry: HistoryEntry) -> str:
    return _dumps(
        {
            "environment": entry.environment,
            "revision": _revision(entry.revision),
            "started_at": entry.started_at,
            "finished_at": entry.finished_at,
            "trigger": entry.trigger.value,
            "actor": entry.actor,
            "result": entry.result.value,
            "actions": dict(sorted(entry.actions.items())),
            "reason": entry.reason,
            "error": entry.error,
            "token": entry.token,
            **({"jobs": dict(sorted(entry.jobs.items()))} if entry.jobs else {}),
        }
    )


def entry_from_json(text: str) -> HistoryEntry:
    d: dict[str, Any] = json.loads(text)
    return HistoryEntry(
        environment=str(d["environment"]),
        revision=_revision_from(d.get("revision")),
        started_at=float(d["started_at"]),
        finished_at=float(d["finished_at"]),
        trigger=Trigger(d["trigger"]),
        actor=str(d.get("actor", "")),
        result=Result(d["result"]),
        actions={str(k): int(v) for k, v in d.get("actions", {}).items()},
        reason=str(d.get("reason", "")),
        error=d.get("error"),
        token=int(d.get("token", 0)),
        jobs={str(k): str(v) for k, v in d.get("jobs", {}).items()},
    )
