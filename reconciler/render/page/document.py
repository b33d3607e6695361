"""The JSON of ``GET /api/status`` (format 1.x, ``specs/status.schema.json``), from a
:class:`~reconciler.render.page.view.StatusView`. Pure.

One document for the loop: the process (repository, branch, mode, ticks, readiness) and its
environment (a list, empty until a revision's specs loaded, so that the shape holds when one
process serves several): conditions, the revisions applied and attempted, the failed ones,
per host and stack what runs and whether it matches, the last plan's summary, the tick in
progress (with a fleet's rollout: batch, instances, step) and the history, newest first.
Times are ISO 8601 in UTC (``...Z``); a field is only ever added within 1.x. The HTML page
(:mod:`.html`) renders this same document.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reconciler.core.progress import Progress, RolloutProgress
from reconciler.render.page.view import Observation, StackView, StatusView
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, HistoryEntry, Revision

STATUS_FORMAT_VERSION = "1.0"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _revision(rev: Revision | None, url: str | None) -> dict[str, Any] | None:
    if rev is None:
        return None
    return {"sha": rev.sha, "short": rev.sha[:12], "author": rev.author,
            "subject": rev.message.splitlines()[0] if rev.message else "", "committed_at": iso(rev.committed_at),
            "url": f"{url}/commit/{rev.sha}" if url else None}  # fmt: skip


def sync_state(status: EnvironmentStatus) -> str:
    """Synced, OutOfSync, Degraded or Unknown (no tick recorded yet)."""
    def true(kind: ConditionType) -> bool:
        found = status.condition(kind)
        return found is not None and found.status == ConditionStatus.TRUE

    if not status.conditions:
        return "Unknown"
    return "Degraded" if true(ConditionType.DEGRADED) else "OutOfSync" if true(ConditionType.OUT_OF_SYNC) else "Synced"


def _conditions(status: EnvironmentStatus) -> list[dict[str, Any]]:
    return [{"type": c.type.value, "status": c.status.value, "reason": c.reason, "message": c.message,
             "last_transition": iso(c.last_transition)} for c in status.conditions]  # fmt: skip


def _stack(s: StackView) -> dict[str, Any]:
    services = [{"name": v.name, "status": v.status, "detail": v.detail,
                 "containers": [{"name": c.name, "state": c.state, "health": c.health, "image": c.image}
                                for c in v.containers]} for v in s.services]  # fmt: skip
    return {"host": s.host, "stack": s.stack, "project": s.project, "matches": s.matches,
            "problems": list(s.problems), "services": services}  # fmt: skip


def _plan(o: Observation) -> dict[str, Any]:
    p = o.plan
    return {"revision": o.revision or None, "planned_at": iso(p.planned_at), "summary": p.summary,
            "counts": dict(p.counts), "action_count": p.action_count, "unchanged": p.unchanged,
            "actions": [{"address": a.address, "kind": a.kind, "reason": a.reason} for a in p.actions],
            "problems": [{"address": a, "message": m} for a, m in p.problems]}  # fmt: skip


def _rollout(r: RolloutProgress | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"fleet": r.fleet, "batch": r.batch, "phase": r.phase, "step": r.step, "instances": list(r.instances),
            "started_at": iso(r.started_at), "step_started_at": iso(r.step_started_at),
            "batches_done": r.batches_done, "failed": r.failed or None}  # fmt: skip


def _progress(p: Progress) -> dict[str, Any]:
    return {"phase": p.phase, "since": iso(p.since), "revision": p.revision or None, "running": list(p.running),
            "units_done": p.units_done, "units_failed": p.units_failed, "action": p.action or None,
            "rollout": _rollout(p.rollout), "updated_at": iso(p.updated_at)}  # fmt: skip


def _entry(e: HistoryEntry, url: str | None) -> dict[str, Any]:
    return {"revision": _revision(e.revision, url), "started_at": iso(e.started_at), "finished_at": iso(e.finished_at),
            "duration_seconds": round(e.duration, 3), "trigger": e.trigger.value, "actor": e.actor,
            "result": e.result.value, "actions": dict(sorted(e.actions.items())), "reason": e.reason,
            "error": e.error}  # fmt: skip


def _environment(view: StatusView, status: EnvironmentStatus) -> dict[str, Any]:
    url = view.repository_url
    failed = sorted({key.split("@")[0] for key in status.failed_revisions})
    obs = view.observation
    return {
        "name": status.environment,
        "sync": sync_state(status),
        "conditions": _conditions(status),
        "last_applied": _revision(status.last_applied, url),
        "last_attempted": _revision(status.last_attempted, url),
        "last_error": status.last_error,
        "failed_revisions": failed,
        "suspended": status.suspended,
        "pin": status.pin,
        "lease_holder": view.lease_holder,
        "updated_at": iso(status.updated_at),
        "store_error": view.store_error,
        "stacks": [_stack(s) for s in obs.stacks] if obs is not None else [],
        "plan": _plan(obs) if obs is not None else None,
        "progress": _progress(view.progress),
        "history": [_entry(e, url) for e in view.history],
    }


def _loop(view: StatusView) -> dict[str, Any]:
    loop = view.loop
    return {"repository": loop.repository, "branch": loop.branch, "path": loop.path, "mode": loop.mode,
            "interval_seconds": loop.interval, "ticks": loop.ticks, "tick_running": loop.tick_running,
            "ready": loop.ready, "readiness": loop.readiness}  # fmt: skip


def status_document(view: StatusView) -> dict[str, Any]:
    """The ``/api/status`` document as a dict (what :func:`status_json` serialises)."""
    return {
        "format_version": STATUS_FORMAT_VERSION,
        "generated_at": iso(view.generated_at),
        "loop": _loop(view),
        "environments": [_environment(view, view.status)] if view.status is not None else [],
    }


def status_json(view: StatusView) -> str:
    return json.dumps(status_document(view), indent=2, ensure_ascii=False) + "\n"


__all__ = ["STATUS_FORMAT_VERSION", "iso", "status_document", "status_json", "sync_state"]
