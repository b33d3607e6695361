"""The planner: ``plan(desired, observed) -> Plan``. Pure.

A purely computational function with no side effects: it diffs the desired
state (from the specs) against the observed state (read by the observers)
and returns the ordered, typed actions that make the world match, with a
reason for every action and for every resource left alone. The same inputs
always give the same plan, whatever the order of the observed items.

Parts, mirroring the observers: :mod:`.parameters` (SSM), :mod:`.images`
(registries, local engine), :mod:`.stacks` (Compose), with :mod:`.targets`
(environment, config hash) and :mod:`.order` (depends_on order).
"""

from __future__ import annotations

from reconciler.model import DesiredState, ObservedState
from reconciler.plan import Plan
from reconciler.planner.common import Draft, ParameterIndex
from reconciler.planner.images import plan_images
from reconciler.planner.parameters import ownership_queries, plan_parameters
from reconciler.planner.stacks import StackContext, plan_stack
from reconciler.planner.targets import service_targets, stack_environment

__all__ = ["ownership_queries", "plan", "service_targets", "stack_environment"]


def plan(desired: DesiredState, observed: ObservedState) -> Plan:
    """The plan that takes ``observed`` to ``desired``. Pure and deterministic.

    Order: every PutParameter (by name); then per stack (by name) its pulls,
    networks, volumes, service actions in depends_on order and removals; then
    every DeleteParameter (by name), after no container uses them any more.
    A stack whose image does not resolve, or which needs a parameter that has
    no value, gets a Problem and no actions; the other stacks are planned.
    """
    index = ParameterIndex.build(desired)
    parameters = plan_parameters(desired, observed, index)
    ctx = StackContext.build(desired, observed, index, parameters.unavailable)
    stacks = Draft()
    blocked: dict[str, list[str]] = {}
    for stack in sorted(desired.stacks, key=lambda s: (s.name, s.project)):
        result = plan_stack(stack, ctx)
        stacks.extend(result.draft)
        for image in result.blocking_images:
            blocked.setdefault(image, []).append(stack.name)
    images = plan_images(desired, observed, blocked)
    actions = [*parameters.puts, *stacks.actions, *parameters.deletes]
    unchanged = [
        *sorted(parameters.unchanged, key=lambda u: u.address),
        *images.unchanged,
        *stacks.unchanged,
    ]
    problems = sorted(
        [*parameters.problems, *images.problems, *stacks.problems], key=lambda p: (p.address, p.message)
    )
    return Plan(
        environment=desired.environment,
        actions=tuple(actions),
        unchanged=tuple(unchanged),
        problems=tuple(problems),
    )
