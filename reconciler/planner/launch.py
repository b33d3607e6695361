"""The plan that converges one new instance of a fleet before it serves. Pure.

A rotation learns its replacement's instance id only once the group has launched it, so the
rotate step asks for this plan then (through the composition root, which observes the new
instance): every stack of the fleet on that one instance, as the stack planner makes it for any
host, then the health gate and the step that puts the instance in service: CompleteLifecycleAction
CONTINUE when the launch hook holds it, else registration in the target groups. The same units a
new instance held by the hook gets in a tick's plan (:mod:`.rotation`).
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import Action, ServiceAction
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredState
from reconciler.core.observed import ObservedState
from reconciler.core.plan import Plan, Unit
from reconciler.core.rotation_actions import CONTINUE, CompleteLaunch
from reconciler.planner.rollout import _Builder
from reconciler.planner.rotation import _change, launch_unit_id


def plan_new_instance(desired: DesiredState, observed: ObservedState, fleet: str, instance: str) -> Plan:
    """The units that converge ``instance`` of ``fleet`` (``observed`` holds the fleet as it is now and
    the instance's host). Raises ReconcilerError when it is not known or has no address."""
    from reconciler.planner import plan

    host = next((h for h in desired.fleets if h.name == fleet), None)
    seen = observed.fleets.get(fleet)
    found = seen.instance(instance) if seen is not None else None
    if host is None or seen is None or found is None or instance not in seen.docker_urls:
        raise ReconcilerError(f"instance {instance} of fleet {fleet} is not known or has no address yet")
    one = replace(host, name=instance, docker_host=seen.docker_urls[instance], fleet=None, member_of=fleet)
    stacks = tuple(replace(s, hosts=(instance,)) for s in desired.stacks if fleet in s.hosts)
    alone = replace(desired, hosts=(one,), stacks=stacks)
    stack_plan = plan(alone, replace(observed, fleets={}))
    if stack_plan.problems:
        listed = "; ".join(f"{p.address}: {p.message}" for p in stack_plan.problems)
        raise ReconcilerError(f"instance {instance} cannot be converged: {listed}")
    # the parameter writes are the rollout's own (done or under way): the new instance waits for none
    units = [
        replace(
            u, needs=(), actions=tuple(replace(a, needs=()) if isinstance(a, ServiceAction) else a for a in u.actions)
        )
        for u in stack_plan.units
        if u.host == instance
    ]
    build = _Builder(fleet, seen, desired.rollout)
    steps: list[Action] = [g for g in (build.gate(found, 0),) if g is not None]
    hook = desired.rollout.launch_hook
    if hook is not None and found.lifecycle != "InService":
        steps.append(
            CompleteLaunch(
                change=_change(f"instance:{instance}/launch", found.lifecycle, "in service"),
                reason=f"converged and healthy: CONTINUE (launch hook {hook.name}), waits until reported healthy",
                fleet=fleet,
                batch=0,
                group=seen.group,
                instance=instance,
                hook=hook.name,
                result=CONTINUE,
                target_groups=build.refs,
            )
        )
    elif build.refs:
        steps.append(replace(build.join(found, 0), reason="converged and healthy: registered (no launch hook)"))
    last = Unit(id=launch_unit_id(fleet, instance), actions=tuple(steps), after=tuple(u.id for u in units))
    return Plan(environment=desired.environment, units=(*units, last))
