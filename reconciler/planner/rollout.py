"""The rollout over a fleet: its instances' stack units in batches, each batch leaving the load balancer,
changing, passing the health gate and re-joining before the next. Pure.

Given the units planned per stack and host (a fleet's instances are hosts by then,
:mod:`.fleet`), :func:`plan_rollouts` orders the units of each fleet's changed
instances into batches of ``spec.rollout.batch`` (fewer when ``minHealthy`` says so):

    rollout:web/1/leave   deregister the batch, wait until drained
    stack:i-0abc/popcon   ... the stack's changes, as on any host
    rollout:web/1/join    health gate, register, target healthy, alarms
    rollout:web/2/leave   ...
    rollout:web/bake      alarms watched for spec.rollout.bake

An instance that serves but is out of its target groups with nothing to change
(a run killed mid-rollout left it there) is re-joined first
(``rollout:web/restore``). A rollout that would leave fewer instances in service
than ``minHealthy`` (another one already unhealthy, say) is not planned: a problem
says why. A stack's one-off jobs (:mod:`.jobs`) run once, in the first batch, on its
first instance whose services they precede change, before that instance's services:
the other instances of that batch wait for that unit, the later batches follow it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.core.actions import Action, Change, CreateService, RecreateService, RunJob
from reconciler.core.address import fleet_address, instance_address
from reconciler.core.fleet import FleetSpec, RolloutSpec, format_duration
from reconciler.core.fleet_observed import ObservedFleet, ObservedInstance
from reconciler.core.instance_refresh import InstanceRefresh, without_alarms
from reconciler.core.model import DesiredState
from reconciler.core.plan import ROLLOUT_PREFIX, Plan, Problem, Unit
from reconciler.core.rollout_actions import (
    Bake,
    CheckAlarms,
    HealthGate,
    JoinTargetGroups,
    LeaveTargetGroups,
    TargetGroupRef,
)
from reconciler.planner.instance_refresh import plan_instance_refresh
from reconciler.planner.jobs import place_jobs
from reconciler.planner.rotation import launching, plan_rotation, rotate_action

OUT_STATES = ("unused", "draining")  # a target group's view of an instance that receives no traffic


def rollout_unit_id(fleet: str, step: str) -> str:
    return f"{ROLLOUT_PREFIX}{fleet}/{step}"


@dataclass(frozen=True)
class Rollout:
    """The units of a plan with each fleet's rolled out, and what stopped a fleet's rollout."""

    units: tuple[Unit, ...]
    problems: tuple[Problem, ...] = ()


def _refs(observed: ObservedFleet) -> tuple[TargetGroupRef, ...]:
    return tuple(TargetGroupRef(g.arn, g.name, g.port) for g in observed.target_groups if g.error is None)


def _registered(observed: ObservedFleet, instance: str) -> bool:
    """In every target group, and not leaving it."""
    for group in observed.target_groups:
        if group.error is not None:
            continue
        target = group.target(instance)
        if target is None or target.state in OUT_STATES:
            return False
    return True


def _in_service(observed: ObservedFleet) -> list[str]:
    """The serving instances that take traffic: registered and healthy (or on their way) everywhere."""
    out: list[str] = []
    for instance in observed.serving:
        states = [g.target(instance.id) for g in observed.target_groups if g.error is None]
        if all(t is not None and t.state in ("healthy", "initial") for t in states):
            out.append(instance.id)
    return out


def _step_change(address: str, before: str, after: str) -> Change:
    return Change(address, {"state": before}, {"state": after})


class _Builder:
    """The steps of one fleet's rollout."""

    def __init__(self, name: str, observed: ObservedFleet, rollout: RolloutSpec) -> None:
        self.name = name
        self.observed = observed
        self.rollout = rollout
        self.refs = _refs(observed)
        delays = [g.deregistration_delay for g in observed.target_groups if g.error is None]
        self.drain = rollout.drain_timeout if rollout.drain_timeout is not None else max(delays, default=0.0)
        self.ignored = tuple(a.name for a in observed.alarms if a.state == "ALARM")

    def leave(self, instance: ObservedInstance, batch: int) -> LeaveTargetGroups:
        names = ", ".join(r.name for r in self.refs)
        return LeaveTargetGroups(
            change=_step_change(f"{instance_address(instance.id)}/leave", "in service", "drained"),
            reason=f"batch {batch}: leaves {names} and drains (up to {format_duration(self.drain)}) before it changes",
            fleet=self.name, batch=batch, instance=instance.id, target_groups=self.refs, drain_timeout=self.drain,
        )  # fmt: skip

    def gate(self, instance: ObservedInstance, batch: int) -> HealthGate | None:
        check = self.rollout.health_check
        if check is None:
            return None
        url = f"http://{instance.private_ip}:{check.port}{check.path}"
        return HealthGate(
            change=_step_change(f"{instance_address(instance.id)}/health", "changed", "healthy"),
            reason=f"{url} must answer 2xx/3xx ({check.attempts} tries, {format_duration(check.interval)} apart)",
            fleet=self.name, batch=batch, instance=instance.id, url=url, service=check.service,
            attempts=check.attempts, interval=check.interval, timeout=check.timeout,
        )  # fmt: skip

    def join(self, instance: ObservedInstance, batch: int, *, restore: bool = False) -> JoinTargetGroups:
        names = ", ".join(r.name for r in self.refs)
        why = "out of its target groups with nothing to change: put back" if restore else "healthy: re-joins"
        return JoinTargetGroups(
            change=_step_change(f"{instance_address(instance.id)}/join", "out", "in service"),
            reason=f"{why} {names}, waits until the target groups report it healthy",
            fleet=self.name, batch=batch, instance=instance.id, target_groups=self.refs, restore=restore,
        )  # fmt: skip

    def alarms(self, batch: int) -> CheckAlarms | None:
        names = self.rollout.alarms
        if not names:
            return None
        note = f"; already in ALARM before, ignored: {', '.join(self.ignored)}" if self.ignored else ""
        return CheckAlarms(
            change=_step_change(f"{fleet_address(self.name)}/alarms/{batch}", "unchecked", "OK"),
            reason=f"none of {', '.join(names)} in ALARM after batch {batch}{note}",
            fleet=self.name, batch=batch, alarms=names, ignored=self.ignored,
        )  # fmt: skip

    def bake(self) -> Bake | None:
        if not self.rollout.alarms or self.rollout.bake <= 0:
            return None
        return Bake(
            change=_step_change(f"{fleet_address(self.name)}/bake", "rolled out", "baked"),
            reason=f"alarms watched {format_duration(self.rollout.bake)} after the last batch",
            fleet=self.name, batch=0, alarms=self.rollout.alarms, seconds=self.rollout.bake, ignored=self.ignored,
        )  # fmt: skip


def _batches(
    name: str, observed: ObservedFleet, rollout: RolloutSpec, changed: list[ObservedInstance], restored: int
) -> tuple[list[list[ObservedInstance]], Problem | None]:
    """The changed instances in batches: those already out of service first (changing them takes
    nothing more out), then the others, never more out of service at once than minHealthy allows.
    Instances put back first (``restored``) and the out ones once re-joined count as in service for
    the later batches: a batch runs only after the previous one re-joined."""
    size = len(observed.serving)
    batch = rollout.batch_size(size)
    if not observed.target_groups:  # no load balancer: nothing to take out of service
        return [changed[i : i + batch] for i in range(0, len(changed), batch)], None
    serving = set(_in_service(observed))
    floor = rollout.min_in_service(size) if rollout.min_healthy is not None else max(1, size - batch)
    out = [i for i in changed if i.id not in serving]
    allowed = min(batch, len(serving) + restored + len(out) - floor)
    inside = [i for i in changed if i.id in serving]
    batches = [out[i : i + batch] for i in range(0, len(out), batch)]
    if inside and allowed < 1:
        explicit = rollout.min_healthy is not None
        rule = f"minHealthy {rollout.min_healthy}" if explicit else "at least one instance in service"
        return batches, Problem(
            fleet_address(name),
            f"{len(serving) + restored + len(out)} of {size} instances in service and {rule}: changing one would "
            "take the last allowed out of the load balancer; nothing in service is rolled out until more are "
            "(or lower minHealthy)",
        )
    batches += [inside[i : i + allowed] for i in range(0, len(inside), max(1, allowed))]
    return batches, None


def _fleet_units(
    name: str,
    observed: ObservedFleet,
    rollout: RolloutSpec,
    by_host: Mapping[str, list[Unit]],
    fleet: FleetSpec | None = None,
) -> tuple[list[Unit], list[Problem]]:
    build = _Builder(name, observed, rollout)
    rotation = plan_rotation(name, observed, rollout, fleet, by_host, build.refs, build.gate)
    serving = list(observed.serving)
    rotated = rotation.rotate
    changed = [i for i in serving if i.id in rotated or any(u.actions for u in by_host.get(i.id, []))]
    out: list[Unit] = list(rotation.head)
    previous: tuple[str, ...] = rotation.ids
    lost = [i for i in serving if build.refs and i not in changed and not _registered(observed, i.id)]
    if lost:
        steps: list[Action] = [s for i in lost for s in (build.gate(i, 0), build.join(i, 0, restore=True)) if s]
        uid = rollout_unit_id(name, "restore")
        out.append(Unit(id=uid, actions=tuple(steps), after=previous))
        previous = (uid,)
    if not changed:
        return out, [*rotation.problems]
    # the new instances the launch hook holds are in service before the first batch (their units come first)
    joining = len(launching(observed, rollout, fleet))
    batches, problem = _batches(name, observed, rollout, changed, len(lost) + joining)
    # a replaced instance's units are dropped (its replacement is converged): jobs go to one that is kept
    kept_order = [i.id for batch in batches for i in batch if i.id not in rotated]
    by_host, first_jobs = _jobs_first(by_host, kept_order)
    owner = {u.id: i.id for i in serving for u in by_host.get(i.id, [])}  # unit -> its instance
    for number, batch in enumerate(batches, start=1):
        if build.refs:
            leave_id = rollout_unit_id(name, f"{number}/leave")
            out.append(Unit(id=leave_id, actions=tuple(build.leave(i, number) for i in batch), after=previous))
            previous = (leave_id,)
        stack_ids: list[str] = []
        rotating = [i for i in batch if i.id in rotated]
        if rotating and fleet is not None:  # replaced: its replacement gets the stacks
            rotate_id = rollout_unit_id(name, f"{number}/rotate")
            steps_ = tuple(rotate_action(name, observed, rollout, fleet, i, number) for i in rotating)
            out.append(Unit(id=rotate_id, actions=steps_, after=previous))
            stack_ids.append(rotate_id)
        for instance in batch:
            if instance in rotating:
                continue
            for unit in by_host.get(instance.id, []):
                # the batches order the fleet's instances: a unit waits for no other instance's units
                # (those of its batch change together, the others' batches run before or after it)
                after = tuple(a for a in unit.after if owner.get(a, instance.id) == instance.id)
                # a stack's jobs run first, alone: the rest of the batch changes once they succeeded
                jobs = tuple(j for j in first_jobs if j != unit.id and number == 1)
                out.append(replace(unit, after=tuple(dict.fromkeys((*after, *previous, *jobs)))))
                stack_ids.append(unit.id)
        kept = [i for i in batch if i not in rotating]
        steps = [
            *(g for i in kept if (g := build.gate(i, number)) is not None),
            *(build.join(i, number) for i in kept if build.refs),
        ]
        alarms = build.alarms(number)
        if alarms is not None:
            steps.append(alarms)
        if steps:
            join_id = rollout_unit_id(name, f"{number}/join")
            out.append(Unit(id=join_id, actions=tuple(steps), after=(*previous, *stack_ids)))
            previous = (join_id,)
        else:
            previous = tuple(stack_ids)
    bake = build.bake()
    if bake is not None and batches:
        out.append(Unit(id=rollout_unit_id(name, "bake"), actions=(bake,), after=previous))
    return out, [*rotation.problems, *([problem] if problem else [])]


def _jobs_first(
    by_host: Mapping[str, list[Unit]], order: Sequence[str]
) -> tuple[dict[str, list[Unit]], tuple[str, ...]]:
    """``by_host`` with each stack's jobs moved to that stack's unit on the first instance of the
    rollout (``order``) where a service they precede changes, and the ids of the units holding jobs.
    The planner put them on the stack's first such host; the batches may start elsewhere (an
    instance out of service goes first), and a job must run before any instance changes."""
    units = {host: list(group) for host, group in by_host.items()}
    placed: set[str | None] = set()  # stacks whose jobs found their unit
    for host in order:
        for index, unit in enumerate(units.get(host, [])):
            jobs = [j for group in units.values() for u in group if u.stack == unit.stack
                    for j in u.actions if isinstance(j, RunJob)]  # fmt: skip
            if unit.stack in placed or not any(_precedes_change(j, unit) for j in jobs):
                continue
            placed.add(unit.stack)
            if any(isinstance(a, RunJob) for a in unit.actions):
                continue  # already there
            units = {h: [_without(u, jobs) if u.stack == unit.stack else u for u in g] for h, g in units.items()}
            units[host][index] = _with_jobs(units[host][index], [replace(j, host=host) for j in jobs])
    holders = [u.id for host in order for u in units.get(host, []) if any(isinstance(a, RunJob) for a in u.actions)]
    return units, tuple(holders)


def _precedes_change(job: RunJob, unit: Unit) -> bool:
    """``unit`` creates or recreates a service ``job`` runs before."""
    return any(isinstance(a, CreateService | RecreateService) and a.service in job.before for a in unit.actions)


def _without(unit: Unit, jobs: Sequence[RunJob]) -> Unit:
    moved = {j.address for j in jobs}
    return replace(unit, actions=tuple(a for a in unit.actions if a.address not in moved))


def _with_jobs(unit: Unit, jobs: Sequence[RunJob]) -> Unit:
    return replace(unit, actions=place_jobs(unit.actions, jobs))


def plan_rollouts(units: Sequence[Unit], desired: DesiredState, fleets: Mapping[str, ObservedFleet]) -> Rollout:
    """``units`` with each fleet's instance units in rollout order (see the module docstring).
    ``desired`` is the desired state before its fleets were expanded."""
    members: dict[str, str] = {}  # instance -> fleet
    for host in desired.fleets:
        observed = fleets.get(host.name)
        if observed is not None and observed.error is None:
            members.update({i.id: host.name for i in observed.serving})
            members.update({i.id: host.name for i in launching(observed, desired.rollout, host.fleet)})
    if not desired.fleets:
        return Rollout(tuple(units))
    by_host: dict[str, list[Unit]] = {}
    for unit in units:
        if unit.host in members:
            by_host.setdefault(unit.host, []).append(unit)
    out: list[Unit] = []
    problems: list[Problem] = []
    placed = False
    for unit in units:
        if unit.host in members:
            continue
        if not placed and unit.requires_all:  # the prune unit stays last
            placed = True
            _place_fleets(out, problems, desired, fleets, by_host)
        out.append(unit)
    if not placed:
        _place_fleets(out, problems, desired, fleets, by_host)
    return Rollout(tuple(out), tuple(problems))


def _place_fleets(
    out: list[Unit],
    problems: list[Problem],
    desired: DesiredState,
    fleets: Mapping[str, ObservedFleet],
    by_host: Mapping[str, list[Unit]],
) -> None:
    for host in desired.fleets:
        observed = fleets.get(host.name)
        if observed is None or observed.error is not None:
            continue
        units, found = _fleet_units(host.name, observed, desired.rollout, by_host, host.fleet)
        out.extend(units)
        problems.extend(found)
        if host.fleet is not None:  # rotation by AWS's instance refresh, after the fleet's other units
            refresh = plan_instance_refresh(host.name, host.fleet, observed, desired.rollout, [u.id for u in units])
            out.extend(refresh.units)
            problems.extend(refresh.problems)


def without_alarm_steps(plan: Plan) -> Plan:
    """``plan`` without its alarm checks and bake, and an instance refresh without its alarms and bake
    (a rollback restores what ran before: an alarm that stopped the rollout may still be in ALARM and
    must not stop the way back). A rollout unit left
    empty is dropped and the units after it wait for what it waited for."""
    dropped: dict[str, tuple[str, ...]] = {}
    kept: list[Unit] = []
    for unit in plan.units:
        if not unit.id.startswith(ROLLOUT_PREFIX):
            kept.append(unit)
            continue
        actions = tuple(
            without_alarms(a) if isinstance(a, InstanceRefresh) else a
            for a in unit.actions
            if not isinstance(a, CheckAlarms | Bake)
        )
        if actions:
            kept.append(replace(unit, actions=actions))
        else:
            dropped[unit.id] = unit.after

    def resolve(after: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for uid in after:
            out.extend(resolve(dropped[uid]) if uid in dropped else (uid,))
        return tuple(dict.fromkeys(out))

    return replace(plan, units=tuple(replace(u, after=resolve(u.after)) for u in kept))
