"""The terminal subscriber of events: one line (stderr) per event it shows. Pure."""

from __future__ import annotations

from reconciler.core.events import (
    ActionFinished,
    ActionStarted,
    DeployStarted,
    Event,
    HostObserved,
    LeftoverRemoved,
    PlanReady,
    PlanStale,
    PlanStarted,
    RollbackStarted,
    UnitFinished,
    UnitStarted,
    WaitProgress,
)


def event_line(event: Event) -> str | None:
    """One line for the terminal (stderr), or None for events it does not show."""
    if isinstance(event, HostObserved):
        return f"host {event.host}: cannot be read: {event.error}" if event.error else None
    if isinstance(event, PlanStale):
        return "The plan is stale:\n" + "\n".join(f"  {r}" for r in event.resources)
    if isinstance(event, UnitStarted):
        if event.host is None:
            return None
        return f"stack {event.stack} on host {event.host}: applying {event.actions} action(s)"
    if isinstance(event, UnitFinished):
        if event.host is None or event.status == "done":
            return None
        return f"stack {event.stack} on host {event.host}: {event.status}" + (
            f" ({event.message})" if event.message else ""
        )
    if isinstance(event, ActionStarted):
        return f"{event.address}: {event.doing}"
    if isinstance(event, ActionFinished):
        return f"{event.address}: {event.status}" + (f" ({event.message})" if event.message else "")
    if isinstance(event, WaitProgress):
        return f"{event.address}: waiting until {event.condition} (up to {event.timeout:g}s)"
    if isinstance(event, LeftoverRemoved):
        return f"removed {event.what} an earlier interrupted run left: {event.path}"
    if isinstance(event, RollbackStarted):
        return f"rollout failed ({event.cause}): rolling {event.environment} back to {event.to[:12]}"
    if isinstance(event, PlanStarted | PlanReady | DeployStarted):
        return None
    return None  # pragma: no cover - every event type is handled above
