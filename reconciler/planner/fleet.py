"""A fleet's instances as the environment's hosts, and what the plan says of the fleet. Pure.

:func:`expand_fleets` replaces each fleet (a hosts entry ``fromAutoScalingGroup``)
by the instances that serve (InService and Healthy, oldest first) and the new ones a launch hook
holds (:func:`~reconciler.planner.rotation.launching`), named by
instance id and reached at the URL the entry's template gives; every stack on
the fleet then runs on those instances, in that order. A fleet that was not
observed, or whose group does not exist, stands for no instance: nothing is
planned there, and :func:`fleet_findings` makes it a problem. The other
instances (Pending, Terminating, Standby, unhealthy) are shown as left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.address import alarm_address, fleet_address, instance_address, target_group_address
from reconciler.core.fleet import RolloutSpec
from reconciler.core.fleet_observed import ObservedFleet
from reconciler.core.model import DesiredState, HostSpec
from reconciler.core.plan import Problem, Unchanged
from reconciler.planner.rotation import launching


def _instance_hosts(fleet: HostSpec, observed: ObservedFleet | None, rollout: RolloutSpec) -> list[HostSpec]:
    if observed is None or observed.error is not None:
        return []
    new = launching(observed, rollout, fleet.fleet)  # held by the launch hook: converged before they serve
    return [
        replace(fleet, name=i.id, docker_host=observed.docker_urls[i.id], fleet=None, member_of=fleet.name)
        for i in (*observed.serving, *new)
        if i.id in observed.docker_urls
    ]


def expand_fleets(desired: DesiredState, fleets: Mapping[str, ObservedFleet]) -> DesiredState:
    """``desired`` with each fleet replaced by its serving instances (unchanged without fleets)."""
    if not desired.fleets:
        return desired
    members = {h.name: _instance_hosts(h, fleets.get(h.name), desired.rollout) for h in desired.fleets}
    hosts = tuple(m for h in desired.hosts for m in (members[h.name] if h.fleet is not None else [h]))
    stacks = tuple(
        replace(
            s,
            hosts=tuple(
                m for name in s.hosts for m in ([i.name for i in members[name]] if name in members else [name])
            ),
        )
        for s in desired.stacks
    )
    return replace(desired, hosts=hosts, stacks=stacks)


def fleet_findings(desired: DesiredState, fleets: Mapping[str, ObservedFleet]) -> tuple[list[Problem], list[Unchanged]]:
    """Problems (a group, target group or alarm that does not exist; a fleet not observed) and the
    instances left alone, with why."""
    problems: list[Problem] = []
    notes: list[Unchanged] = []
    for host in desired.fleets:
        assert host.fleet is not None
        observed = fleets.get(host.name)
        address = fleet_address(host.name)
        if observed is None:
            problems.append(Problem(address, f"Auto Scaling group {host.fleet.group} was not observed"))
            continue
        if observed.error is not None:
            problems.append(Problem(address, f"Auto Scaling group {host.fleet.group}: {observed.error}"))
            continue
        serving = observed.serving
        listed = ", ".join(i.id for i in serving) or "none"
        notes.append(
            Unchanged(
                address,
                f"Auto Scaling group {observed.group}: {len(serving)} of {len(observed.instances)} instances in "
                f"service ({listed}), desired capacity {observed.desired_capacity}",
            )
        )
        new = {i.id for i in launching(observed, desired.rollout, host.fleet)}
        for instance in observed.instances:
            if instance.id in new:
                why = f"{instance.state}: new, converged before it serves"
                notes.append(Unchanged(instance_address(instance.id), why))
            elif not instance.serves:
                why = "no private address yet" if instance.lifecycle == "InService" else "not in service"
                notes.append(Unchanged(instance_address(instance.id), f"{instance.state}: {why}, not deployed to"))
        for group in observed.target_groups:
            if group.error is not None:
                problems.append(Problem(target_group_address(group.name), f"target group {group.arn} {group.error}"))
        for name in observed.missing_alarms:
            problems.append(Problem(alarm_address(name), f"CloudWatch alarm {name} does not exist"))
    unique = {(p.address, p.message): p for p in problems}
    return list(unique.values()), notes
