"""What a tick is doing right now, folded from its events: the live progress the status page shows.
Pure.

:func:`advance` folds one :mod:`~reconciler.core.events` event into a :class:`Progress`
snapshot (a new value each time; nothing is mutated), so the executor keeps emitting its
events and knows nothing of who reads them. A fleet's rollout is recognised by its units
(``rollout:<fleet>/<batch>/leave``, ``.../join``, ``rollout:<fleet>/bake``, ``.../restore``)
and by the stack units that run between a batch's leave and join (their host is the
instance): the snapshot says which batch, which instances and which step. :func:`idle` is
the snapshot between ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.core.events import (
    ActionFinished,
    ActionStarted,
    DeployStarted,
    Event,
    PlanReady,
    PlanStarted,
    RollbackStarted,
    UnitFinished,
    UnitStarted,
)
from reconciler.core.plan import ROLLOUT_PREFIX

IDLE = "idle"
PLANNING = "planning"
APPLYING = "applying"
ROLLING_BACK = "rolling back"

_STEPS = {
    "leave": "leaving the load balancer and draining",
    "join": "health check, then joining the load balancer",
    "bake": "watching the alarms (bake)",
    "restore": "putting an instance back in its target groups",
    "change": "changing the stacks",
}


@dataclass(frozen=True)
class RolloutProgress:
    """The rollout in progress over one fleet."""

    fleet: str
    batch: int  # 1-based; 0 for the bake and a restore (no batch)
    phase: str  # leave | change | join | bake | restore
    step: str  # what is being done now, in words
    instances: tuple[str, ...]  # the instances of the step (the batch's)
    started_at: float  # when the rollout's first unit started
    step_started_at: float
    batches_done: int = 0  # batches that re-joined
    failed: str = ""  # the unit that failed, if one did


@dataclass(frozen=True)
class Progress:
    """A snapshot of the tick in progress (``phase`` idle between ticks)."""

    phase: str = IDLE
    environment: str = ""
    since: float | None = None  # when the phase started
    revision: str = ""  # the sha being applied (or rolled back to)
    running: tuple[str, ...] = ()  # unit ids running now
    units_done: int = 0
    units_failed: int = 0
    action: str = ""  # the last action started: "address: doing"
    rollout: RolloutProgress | None = None
    updated_at: float | None = None


def idle(now: float | None = None) -> Progress:
    """The snapshot between ticks."""
    return Progress(updated_at=now)


def _rollout_unit(unit: str) -> tuple[str, int, str] | None:
    """``rollout:web/2/leave`` -> (web, 2, leave); ``rollout:web/bake`` -> (web, 0, bake); else None."""
    if not unit.startswith(ROLLOUT_PREFIX):
        return None
    parts = unit[len(ROLLOUT_PREFIX) :].split("/")
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], int(parts[1]), parts[2]
    if len(parts) == 2:
        return parts[0], 0, parts[1]
    return None


def _instance(address: str) -> str | None:
    """``instance:i-0abc/leave`` -> i-0abc."""
    if not address.startswith("instance:"):
        return None
    return address[len("instance:") :].split("/", 1)[0] or None


def _unit_started(p: Progress, event: UnitStarted, now: float) -> Progress:
    p = replace(p, running=(*p.running, event.unit))
    found = _rollout_unit(event.unit)
    if found is not None:
        fleet, batch, phase = found
        old = p.rollout
        keep = old is not None and old.fleet == fleet and old.batch == batch and phase == "join"
        new = RolloutProgress(
            fleet=fleet,
            batch=batch,
            phase=phase,
            step=_STEPS.get(phase, phase),
            instances=old.instances if keep and old is not None else (),
            started_at=old.started_at if old is not None else now,
            step_started_at=now,
            batches_done=old.batches_done if old is not None else 0,
        )
        return replace(p, rollout=new)
    rollout = p.rollout
    if rollout is not None and rollout.phase in ("leave", "change") and event.host is not None:
        instances = rollout.instances if event.host in rollout.instances else (*rollout.instances, event.host)
        step = f"changing {event.stack}" if event.stack else _STEPS["change"]
        since = rollout.step_started_at if rollout.phase == "change" else now
        return replace(p, rollout=replace(rollout, phase="change", step=step, instances=instances,
                                          step_started_at=since))  # fmt: skip
    return p


def _unit_finished(p: Progress, event: UnitFinished) -> Progress:
    running = tuple(u for u in p.running if u != event.unit)
    done = p.units_done + (event.status == "done")
    failed = p.units_failed + (event.status == "failed")
    p = replace(p, running=running, units_done=done, units_failed=failed)
    found = _rollout_unit(event.unit)
    if p.rollout is None or found is None:
        return p
    if event.status == "failed":
        return replace(p, rollout=replace(p.rollout, failed=event.unit, step=f"stopped: {event.unit} failed"))
    if found[2] == "join" and event.status == "done":
        return replace(p, rollout=replace(p.rollout, batches_done=p.rollout.batches_done + 1))
    return p


def _action_started(p: Progress, event: ActionStarted) -> Progress:
    p = replace(p, action=f"{event.address}: {event.doing}")
    instance = _instance(event.address)
    if p.rollout is None or instance is None:
        return p
    rollout = p.rollout
    instances = rollout.instances if instance in rollout.instances else (*rollout.instances, instance)
    return replace(p, rollout=replace(rollout, instances=instances, step=event.doing))


def advance(progress: Progress, event: Event, now: float) -> Progress:
    """``progress`` after ``event`` (happening at ``now``)."""
    p = replace(progress, updated_at=now)
    if isinstance(event, PlanStarted):
        if p.phase in (APPLYING, ROLLING_BACK):  # the flow plans again (stale plan, rollback)
            return p
        return replace(p, phase=PLANNING, environment=event.environment, since=now)
    if isinstance(event, PlanReady):
        return replace(p, environment=event.environment)
    if isinstance(event, DeployStarted):
        return replace(p, phase=APPLYING, environment=event.environment, since=now, revision=event.sha, running=(),
                       units_done=0, units_failed=0, action="", rollout=None)  # fmt: skip
    if isinstance(event, RollbackStarted):
        return replace(p, phase=ROLLING_BACK, environment=event.environment, since=now, revision=event.to,
                       running=(), action="", rollout=None)  # fmt: skip
    if isinstance(event, UnitStarted):
        return _unit_started(p, event, now)
    if isinstance(event, UnitFinished):
        return _unit_finished(p, event)
    if isinstance(event, ActionStarted):
        return _action_started(p, event)
    if isinstance(event, ActionFinished):
        return p
    return p


__all__ = ["APPLYING", "IDLE", "PLANNING", "ROLLING_BACK", "Progress", "RolloutProgress", "advance", "idle"]
