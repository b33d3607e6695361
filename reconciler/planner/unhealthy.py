"""Which fleet instance that cannot be reconciled is marked unhealthy, for its group to replace. Pure.

A purely computational decision with no side effects. An instance is in trouble
(:class:`~reconciler.core.instance_health.InstanceTrouble`) when its Docker engine could not be
observed (counted in consecutive ticks: the loop hands the count of the ticks before, kept in the
environment's status), when the engine says its disk is full, or when its health gate failed in a
rollout while the same revision passed on another instance. :func:`choose` marks at most one
instance per plan (:class:`~reconciler.core.rollout_actions.MarkUnhealthy`, SetInstanceHealth
Unhealthy: the group terminates it and launches a replacement) and only when:

* the setting allows it (``replaceUnhealthy``; an unreachable engine after ``unreachableTicks``
  ticks in a row);
* no replacement is under way in its group (an instance Pending, Terminating or already unhealthy,
  or fewer instances than the desired capacity): one at a time;
* another instance of the fleet serves and is not in trouble: never the last healthy one, and
  never when every instance fails the same way (then the revision, or the reconciler's own access,
  is at fault, not the instance: a failed rollout is rolled back instead);
* the group keeps ``minHealthy`` instances in service once it is out.

Why an instance in trouble is not marked (yet) is a problem of the plan at the instance's address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.core.actions import Change
from reconciler.core.address import instance_address
from reconciler.core.fleet import RolloutSpec
from reconciler.core.fleet_observed import ObservedFleet
from reconciler.core.instance_health import InstanceTrouble, Trouble, disk_full
from reconciler.core.observed import ObservedHost
from reconciler.core.plan import ROLLOUT_PREFIX, Plan, Problem, Unit
from reconciler.core.report import ApplyReport
from reconciler.core.rollout_actions import HealthGate, MarkUnhealthy, RolloutStep

#: Lifecycle states of an instance on its way in or out of the group: a replacement under way.
_MOVING = ("Pending", "Terminating", "Detaching", "Quarantined")


def replace_unit_id(fleet: str) -> str:
    return f"{ROLLOUT_PREFIX}{fleet}/replace"


def after_rollout(unit: Unit, units: Sequence[Unit]) -> Unit:
    """``unit`` (a mark) waiting for every unit of its fleet's rollout in ``units``: an instance is
    marked only once the batches changing the others are back in service (a failed batch leaves an
    instance out: then nothing is marked, and the next tick decides again)."""
    fleet = unit.id.removeprefix(ROLLOUT_PREFIX).split("/", 1)[0]
    rollout = tuple(u.id for u in units if u.id.startswith(f"{ROLLOUT_PREFIX}{fleet}/") and u.id != unit.id)
    return replace(unit, after=rollout)


@dataclass(frozen=True)
class Verdict:
    """What :func:`choose` decided: the unit marking one instance (or None), and why the others in
    trouble are left (problems at their addresses)."""

    unit: Unit | None
    problems: tuple[Problem, ...] = ()

    @property
    def mark(self) -> MarkUnhealthy | None:
        if self.unit is None:
            return None
        action = self.unit.actions[0]
        assert isinstance(action, MarkUnhealthy)
        return action


def observed_troubles(
    fleets: Mapping[str, ObservedFleet], hosts: Mapping[str, ObservedHost], before: Mapping[str, int]
) -> tuple[InstanceTrouble, ...]:
    """The serving instances whose engine could not be observed, each with its count of consecutive
    ticks: ``before`` (instance id -> the count after the previous tick) plus this one."""
    found: list[InstanceTrouble] = []
    for name in sorted(fleets):
        fleet = fleets[name]
        if fleet.error is not None:
            continue
        for instance in fleet.serving:
            host = hosts.get(instance.id)
            if host is None or host.error is None:
                continue
            found.append(
                InstanceTrouble(name, instance.id, Trouble.ENGINE_UNREACHABLE, host.error,
                                fleet.docker_urls.get(instance.id, ""), before.get(instance.id, 0) + 1)
            )  # fmt: skip
    return tuple(found)


def unreachable_counts(troubles: Iterable[InstanceTrouble]) -> dict[str, int]:
    """What the loop remembers after a tick: instance id -> consecutive ticks its engine was
    unreachable. An instance reachable again, or gone from its group, is no longer listed."""
    return {t.instance: t.ticks for t in troubles if t.trouble is Trouble.ENGINE_UNREACHABLE}


def _moving(fleet: ObservedFleet) -> str | None:
    """Why a replacement is under way in the group (None: none is)."""
    for instance in fleet.instances:
        if instance.lifecycle.startswith(_MOVING) or (instance.lifecycle == "InService" and not instance.serves):
            return f"{instance.id} is {instance.state}"
    if len(fleet.instances) < fleet.desired_capacity:
        return f"{len(fleet.instances)} of {fleet.desired_capacity} instances launched"
    return None


def _refusal(trouble: InstanceTrouble, fleet: ObservedFleet, troubled: set[str], rollout: RolloutSpec) -> str | None:
    """Why ``trouble``'s instance must not be marked now (None: it may)."""
    serving = fleet.serving
    healthy = [i.id for i in serving if i.id not in troubled]
    if not healthy:
        return (
            f"every instance of group {fleet.group} fails ({trouble.trouble.text}): the fault is not one "
            "instance's, none is replaced"
        )
    moving = _moving(fleet)
    if moving is not None:
        return f"one replacement at a time: {moving} in group {fleet.group}"
    floor = rollout.min_in_service(len(serving)) if rollout.min_healthy is not None else 1
    if len(serving) - 1 < floor:
        return f"{len(serving)} instances in service and minHealthy {rollout.min_healthy}: it stays until more are"
    return None


def mark_unhealthy(trouble: InstanceTrouble, group: str) -> MarkUnhealthy:
    return MarkUnhealthy(
        change=Change(f"{instance_address(trouble.instance)}/replace", {"health": "Healthy"}, {"health": "Unhealthy"}),
        reason=f"mark {trouble.instance} unhealthy: {trouble.describe()}; {f'group {group}' if group else 'its group'} "
        "replaces it",
        fleet=trouble.fleet, batch=0, instance=trouble.instance, group=group, trouble=trouble.trouble.value,
        detail=trouble.detail, ticks=trouble.ticks,
    )  # fmt: skip


def choose(
    troubles: Sequence[InstanceTrouble],
    fleets: Mapping[str, ObservedFleet],
    rollout: RolloutSpec,
    unreachable_ticks: int | None,
) -> Verdict:
    """At most one instance of ``troubles`` to mark unhealthy, by the rules of the module docstring;
    ``unreachable_ticks``: ticks in a row an engine must be unreachable (None: never replace)."""
    chosen: Unit | None = None
    problems: list[Problem] = []
    troubled = {t.instance for t in troubles}
    for trouble in troubles:
        fleet = fleets.get(trouble.fleet)
        if fleet is None or fleet.error is not None:
            continue
        address = instance_address(trouble.instance)
        what = f"{trouble.describe()}: {trouble.detail}"
        if unreachable_ticks is None:
            problems.append(Problem(address, f"{what}; not replaced (replaceUnhealthy is false)"))
            continue
        if trouble.trouble is Trouble.ENGINE_UNREACHABLE and trouble.ticks < unreachable_ticks:
            problems.append(Problem(address, f"{what}; marked unhealthy for its group to replace after "
                                             f"{unreachable_ticks} ticks in a row"))  # fmt: skip
            continue
        refusal = _refusal(trouble, fleet, troubled, rollout)
        if chosen is not None:
            refusal = f"one replacement at a time: {chosen.actions[0].address} first"
        if refusal is not None:
            problems.append(Problem(address, f"{what}; not replaced: {refusal}"))
            continue
        chosen = Unit(id=replace_unit_id(trouble.fleet), actions=(mark_unhealthy(trouble, fleet.group),))
    return Verdict(chosen, tuple(problems))


# ---- after a rollout: an instance that fails where the revision works -----------------------------


def apply_troubles(plan: Plan, report: ApplyReport) -> tuple[InstanceTrouble, ...]:
    """The fleet instances an apply of ``plan`` found in trouble while the same revision worked on
    another instance of the fleet: a failed health gate while another instance's gate passed, a
    stack change that failed with a full disk while another instance's succeeded. The first failure
    of each instance; none when no other instance of its fleet got through (every instance failing
    the same way is the revision's fault: that is a rollback)."""
    fleet_of: dict[str, str] = {}
    for action in plan.actions:
        instance = getattr(action, "instance", None)
        if isinstance(action, RolloutStep) and isinstance(instance, str):
            fleet_of.setdefault(instance, action.fleet)
    results = {r.address: r for r in report.results}
    failed: dict[str, tuple[Trouble, str]] = {}
    passed: set[str] = set()  # their health gate passed
    for action in plan.actions:
        if isinstance(action, HealthGate) and (result := results.get(action.address)) is not None:
            if result.status == "done":
                passed.add(action.instance)
            elif result.status == "failed":
                failed.setdefault(action.instance, (Trouble.HEALTH_CHECK_FAILED, result.message))
    stacks: dict[str, list[str]] = {}
    for unit in plan.units:
        if unit.host is not None and unit.host in fleet_of and not unit.id.startswith(ROLLOUT_PREFIX):
            stacks.setdefault(unit.host, []).extend(
                r.status if (r := results.get(a.address)) is not None else "not run" for a in unit.actions
            )
            messages = [r.message for a in unit.actions if (r := results.get(a.address)) and r.status == "failed"]
            full = next((m for m in messages if disk_full(m)), None)
            if full is not None:
                failed[unit.host] = (Trouble.DISK_FULL, full)
    changed = {host for host, statuses in stacks.items() if statuses and all(s == "done" for s in statuses)}
    found: list[InstanceTrouble] = []
    for instance, (trouble, detail) in failed.items():
        fleet = fleet_of[instance]
        worked = passed if trouble is Trouble.HEALTH_CHECK_FAILED else passed | changed
        others = sorted(i for i in worked if i != instance and fleet_of.get(i) == fleet and i not in failed)
        if others:
            found.append(InstanceTrouble(fleet, instance, trouble, detail, passed_on=tuple(others)))
    return tuple(found)


def replacement_after_apply(plan: Plan, report: ApplyReport | None, enabled: bool) -> Unit | None:
    """The unit marking the first instance :func:`apply_troubles` names (None: none, or ``enabled``
    false). It is out of its target groups already (it left them for its batch and failed before it
    re-joined), so marking it takes nothing more out of service, and another instance of its fleet
    just passed with the same revision: the rules of :func:`choose` hold by construction."""
    if any(isinstance(a, MarkUnhealthy) for a in plan.actions):
        return None  # the plan marked one already: one at a time
    troubles = apply_troubles(plan, report) if enabled and report is not None else ()
    if not troubles:
        return None
    first = troubles[0]
    return Unit(id=replace_unit_id(first.fleet), actions=(mark_unhealthy(first, ""),))
