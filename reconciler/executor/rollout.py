"""The steps of a rollout: leave the load balancer and drain, the health gate, re-join, the alarms,
the bake. Does I/O (through :class:`FleetDrivers`).

The instances of a batch take each step together (they leave and drain, pass their gates and
re-join at once, one thread each), so a batch of two drains once. A rollout unit stops at its
first failure: an instance that fails its gate is never registered again by this run, and the
units after it (the next batches) are skipped. Waits
are bounded and use the injected clock and sleep. Draining waits until every target group
no longer reports the instance (or reports it ``unused``) and at least ``LB_SETTLE`` seconds
(at most the drain timeout) since the deregistration: an ALB's nodes keep sending new
requests to a deregistered target for some seconds after the API says it is gone
(aws-load-balancer-controller #2366); in AWS the target stays ``draining`` for the whole
deregistration delay, which covers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciler.core.actions import Action
from reconciler.core.errors import PermanentError, ReconcilerError
from reconciler.core.fleet import format_duration
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.plan import Unit
from reconciler.core.report import Status
from reconciler.core.rollout_actions import (
    Bake,
    CheckAlarms,
    HealthGate,
    JoinTargetGroups,
    LeaveTargetGroups,
    MarkUnhealthy,
    TargetGroupRef,
)
from reconciler.core.rotation_actions import CompleteLaunch, RotateInstance
from reconciler.drivers.aws.fleet import FleetReader, FleetWriter
from reconciler.drivers.aws.instance_health import InstanceHealthWriter
from reconciler.drivers.aws.lifecycle import LaunchWriter
from reconciler.drivers.probe import ProbeResult
from reconciler.executor.instance_health import mark_unhealthy
from reconciler.executor.instance_refresh import RefreshDrivers, run_refresh
from reconciler.executor.rotation import ROTATION_DOING, ROTATION_STEPS, Claims

LB_SETTLE = 15.0  # seconds an ALB may still route to a target after it was deregistered
JOIN_TIMEOUT = 300.0  # seconds a re-joined target may take to be reported healthy
POLL = 1.0  # seconds between two looks at target health or alarms
FIRST_POLL = 0.2  # seconds between the first looks at a joining target (see pace)


class RolloutFailed(PermanentError):
    """A gate or an alarm stopped the rollout."""


@dataclass(frozen=True)
class FleetDrivers:
    reader: FleetReader
    writer: FleetWriter
    probe: Callable[[str, float], ProbeResult]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    settle: float = LB_SETTLE
    join_timeout: float = JOIN_TIMEOUT
    poll: float = POLL
    ignored_alarms: frozenset[str] = field(default_factory=frozenset)
    gone: Callable[[str], bool] = lambda _instance: False  # left its group or terminating (asked after a failure)
    health: InstanceHealthWriter | None = None  # SetInstanceHealth (an instance that cannot be reconciled)
    launches: LaunchWriter | None = None  # the group's changes of a rotation
    converge: Callable[[str, str], str] | None = None  # (fleet, new instance) -> what converging it did; raises
    claims: Claims = field(default_factory=Claims)  # new instances taken by this run's replacements
    refresh: RefreshDrivers | None = None  # rotation by AWS's instance refresh


GONE = "instance {} left its Auto Scaling group during the rollout (terminated or scaled in): skipped"


def left_the_group(drivers: FleetDrivers | None, instance: str | None) -> bool:
    """After a failure on ``instance``: has it gone (so the failure is no reason to stop)? Never raises."""
    if drivers is None or instance is None:
        return False
    try:
        return drivers.gone(instance)
    except ReconcilerError:
        return False


def _states(drivers: FleetDrivers, groups: Sequence[TargetGroupRef], instance: str) -> dict[str, str]:
    """Target group name -> the instance's state there ("absent" when not listed)."""
    out: dict[str, str] = {}
    for group in groups:
        found = drivers.reader.target_health(group.arn) or []
        states = [str(d.get("TargetHealth", {}).get("State", "")) for d in found if d["Target"]["Id"] == instance]
        out[group.name] = states[0] if states else "absent"
    return out


def leave(drivers: FleetDrivers, action: LeaveTargetGroups) -> str:
    started = drivers.clock()
    for group in action.target_groups:
        drivers.writer.deregister(group.arn, [action.instance], group.port)
    settle = min(drivers.settle, action.drain_timeout)
    deadline = started + action.drain_timeout
    while True:
        states = _states(drivers, action.target_groups, action.instance)
        gone = all(s in ("absent", "unused") for s in states.values())
        now = drivers.clock()
        if gone and now - started >= settle:
            return f"left {', '.join(states)}; drained in {format_duration(now - started)}"
        if now >= deadline:
            still = ", ".join(f"{n}: {s}" for n, s in states.items() if s not in ("absent", "unused"))
            note = f"still {still} after" if still else "after"
            return f"left {', '.join(states)}; {note} the drain timeout ({format_duration(action.drain_timeout)})"
        drivers.sleep(min(drivers.poll, max(0.0, deadline - now)))


def gate(drivers: FleetDrivers, action: HealthGate) -> str:
    last = ProbeResult(False, "not asked")
    for attempt in range(1, action.attempts + 1):
        last = drivers.probe(action.url, action.timeout)
        if last.ok:
            return f"{action.url} answered {last.detail} (try {attempt} of {action.attempts})"
        if attempt < action.attempts:
            drivers.sleep(action.interval)
    raise RolloutFailed(
        f"instance {action.instance}",
        f"health check failed: {action.url} answered {last.detail} after {action.attempts} tries "
        f"{format_duration(action.interval)} apart",
    )


def join(drivers: FleetDrivers, action: JoinTargetGroups) -> str:
    for group in action.target_groups:
        drivers.writer.register(group.arn, [action.instance], group.port)
    return join_wait(drivers, action.target_groups, action.instance)


def join_wait(drivers: FleetDrivers, groups: Sequence[TargetGroupRef], instance: str) -> str:
    """Wait until every target group reports ``instance`` healthy (RolloutFailed after the join timeout)."""
    started = drivers.clock()
    deadline = started + drivers.join_timeout
    while True:
        states = _states(drivers, groups, instance)
        if all(s == "healthy" for s in states.values()):
            waited = format_duration(drivers.clock() - started)
            return f"joined {', '.join(states)}; healthy after {waited}"
        if drivers.clock() >= deadline:
            listed = ", ".join(f"{n}: {s}" for n, s in states.items())
            raise RolloutFailed(
                f"instance {instance}",
                f"not reported healthy by its target groups after {format_duration(drivers.join_timeout)} ({listed})",
            )
        drivers.sleep(pace(drivers.poll, drivers.clock() - started))


def pace(poll: float, waited: float) -> float:
    """Seconds until the next look at a joining target: a tenth of the time waited so far, between
    FIRST_POLL and ``poll``. A target group reports a target healthy after its healthy threshold of
    checks (seconds in the sandbox, minutes with AWS's defaults): looked at often at first, the
    moment it is in service is seen within a tenth, about 25 calls more than polling every ``poll``."""
    return max(min(poll, FIRST_POLL), min(poll, waited / 10))


def _alarming(drivers: FleetDrivers, names: Sequence[str], ignored: Sequence[str]) -> list[str]:
    found = drivers.reader.alarms(list(names))
    skip = set(ignored) | drivers.ignored_alarms
    return [
        f"{name} ({str(found[name].get('StateReason', '')).strip() or 'no reason given'})"
        for name in names
        if name in found and found[name].get("StateValue") == "ALARM" and name not in skip
    ]


def check_alarms(drivers: FleetDrivers, action: CheckAlarms) -> str:
    alarming = _alarming(drivers, action.alarms, action.ignored)
    if alarming:
        raise RolloutFailed(
            f"fleet {action.fleet}", f"alarm in ALARM after batch {action.batch}: {'; '.join(alarming)}"
        )
    return f"none of {len(action.alarms)} alarm(s) in ALARM"


def bake(drivers: FleetDrivers, action: Bake) -> str:
    started = drivers.clock()
    while True:
        alarming = _alarming(drivers, action.alarms, action.ignored)
        if alarming:
            raise RolloutFailed(f"fleet {action.fleet}", f"alarm in ALARM during the bake: {'; '.join(alarming)}")
        left = started + action.seconds - drivers.clock()
        if left <= 0:
            return f"no alarm in {format_duration(action.seconds)}"
        drivers.sleep(min(drivers.poll * 5, left))


STEPS: dict[type[Action], Callable[[FleetDrivers, object], str]] = {
    LeaveTargetGroups: leave,  # type: ignore[dict-item]
    HealthGate: gate,  # type: ignore[dict-item]
    JoinTargetGroups: join,  # type: ignore[dict-item]
    CheckAlarms: check_alarms,  # type: ignore[dict-item]
    Bake: bake,  # type: ignore[dict-item]
    MarkUnhealthy: mark_unhealthy,  # type: ignore[dict-item]
    **ROTATION_STEPS,  # instance rotation
    InstanceRefresh: run_refresh,  # type: ignore[dict-item]
}


DOING: dict[type[Action], str] = {
    LeaveTargetGroups: "leaving the load balancer and draining",
    HealthGate: "waiting for the health check",
    JoinTargetGroups: "joining the load balancer",
    CheckAlarms: "checking the alarms",
    Bake: "watching the alarms (bake)",
    MarkUnhealthy: "marking the instance unhealthy for its group to replace",
    **ROTATION_DOING,
    InstanceRefresh: "starting or following the instance refresh",
}


# one per instance of a batch: run at once
TOGETHER = (LeaveTargetGroups, HealthGate, JoinTargetGroups, RotateInstance, CompleteLaunch)


def _together(actions: Sequence[Action]) -> list[list[Action]]:
    """``actions`` in runs that go together: consecutive steps of one kind on the instances of a batch
    (they leave, pass their gates and re-join at once); an alarm check or the bake alone."""
    runs: list[list[Action]] = []
    for action in actions:
        if runs and isinstance(action, TOGETHER) and type(runs[-1][0]) is type(action):
            runs[-1].append(action)
        else:
            runs.append([action])
    return runs


def run_rollout_unit(
    unit: Unit,
    drivers: FleetDrivers | None,
    record: Callable[[Action, Status, str], None],
    started: Callable[[Action, str], None] = lambda _action, _doing: None,
    gone: Callable[[Action, str], None] | None = None,
) -> Status:
    """Run the steps of a rollout unit in order, the same step of a batch's instances at once (a batch
    of two drains once, not twice); the first failure stops the unit once the steps running with it
    finished, unless the instance it concerns has left its group meanwhile: then its steps are skipped
    (``gone``, else ``record`` "skipped") and the others go on. ``record`` is called from the threads
    the steps run in."""
    skip_gone = gone or (lambda action, message: record(action, "skipped", message))
    left: set[str] = set()
    done = 0
    for run in _together(unit.actions):
        todo = [a for a in run if getattr(a, "instance", None) not in left]
        for action in run:
            if action not in todo:
                skip_gone(action, GONE.format(getattr(action, "instance", None)))

        def step(action: Action) -> str | None:
            """Run and record one step; the instance it left (gone), "" when it failed, else None."""
            instance = getattr(action, "instance", None)
            try:
                if drivers is None:
                    raise ReconcilerError("this environment has no fleet clients: a rollout step cannot run")
                started(action, DOING[type(action)])
                if isinstance(action, InstanceRefresh):  # reports its progress as it goes
                    message = run_refresh(drivers, action, lambda doing: started(action, doing))
                else:
                    message = STEPS[type(action)](drivers, action)
            except ReconcilerError as exc:
                # a replaced instance is gone by design: its failure is the replacement's, never skipped
                if not isinstance(action, RotateInstance) and left_the_group(drivers, instance):
                    skip_gone(action, GONE.format(instance))
                    return str(instance)
                record(action, "failed", str(exc))
                return ""
            record(action, "done", message)
            return None

        if len(todo) > 1:
            with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="reconciler-rollout") as pool:
                outcomes = list(pool.map(step, todo))
        else:
            outcomes = [step(a) for a in todo]
        left.update(o for o in outcomes if o)
        done += len(run)
        if "" in outcomes:
            for rest in unit.actions[done:]:
                record(rest, "skipped", f"not done: {unit.id} stopped after a failure")
            return "failed"
    return "done"
