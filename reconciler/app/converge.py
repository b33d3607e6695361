"""Converge one new instance of a fleet before it serves: every stack that runs on the fleet, brought
up on that instance alone. Does I/O (through the world).

A new instance the group launched waits in Pending:Wait (the launch lifecycle hook) while this runs:
it is not among the fleet's serving instances, so the desired state is narrowed to it
(:func:`instance_desired`: the fleet's entry replaced by the instance as a plain host, only the stacks
on the fleet), observed, planned and applied as any host is (no rollout steps: it takes no traffic
yet). The instance-refresh step calls it through :class:`~reconciler.executor.instance_refresh.
RefreshDrivers` and then completes the lifecycle action. A plan problem, or a stack that fails, is
an error: the caller abandons the instance.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler import planner
from reconciler.app.world import World
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import EventSink, discard
from reconciler.core.model import DesiredState, HostSpec
from reconciler.drivers.aws.fleet import FleetReader


def instance_desired(desired: DesiredState, fleet: str, instance: HostSpec) -> DesiredState:
    """``desired`` narrowed to ``instance`` of ``fleet``: that host alone, the stacks on the fleet."""
    stacks = tuple(replace(s, hosts=(instance.name,)) for s in desired.stacks if fleet in s.hosts)
    return replace(desired, hosts=(instance,), stacks=stacks)


def instance_host(desired: DesiredState, fleet: str, instance: str, address: dict[str, str]) -> HostSpec:
    """``instance`` of ``fleet`` as a host, reached at the URL the fleet's template gives."""
    entry = next((h for h in desired.fleets if h.name == fleet), None)
    if entry is None or entry.fleet is None:
        raise ReconcilerError(f"fleet {fleet} is not in environment {desired.environment}")
    ip, dns = address.get("PrivateIpAddress", ""), address.get("PrivateDnsName", "")
    if not ip:
        raise ReconcilerError(f"instance {instance} has no private address yet")
    url = entry.fleet.docker_url(instance, ip, dns)
    return replace(entry, name=instance, docker_host=url, fleet=None, member_of=fleet)


def converge_instance(
    world: World, desired: DesiredState, fleet: str, instance: str, on_event: EventSink = discard
) -> str:
    """Bring every stack of ``fleet`` up on the new ``instance``; what was done (raises when it could not)."""
    address = FleetReader(world.clients.fleet()).instances([instance]).get(instance, {})
    host = instance_host(desired, fleet, instance, address)
    world.clients.add_instances([host])
    narrowed = instance_desired(desired, fleet, host)
    plan = planner.plan(narrowed, world.observe(narrowed, on_event))
    if plan.problems:
        listed = "; ".join(f"{p.address}: {p.message}" for p in plan.problems)
        raise ReconcilerError(f"instance {instance}: cannot be converged: {listed}")
    if not plan.has_changes:
        return "its stacks already run"
    report = world.apply(plan, on_event)
    failed = report.by_status("failed")
    if failed:
        raise ReconcilerError(f"instance {instance}: {failed[0].address}: {failed[0].message}")
    stacks = sorted({u.stack for u in plan.units if u.stack})
    return f"{len(plan.actions)} action(s) applied: {', '.join(stacks) or 'parameters'}"
