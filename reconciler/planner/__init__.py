"""The planner: ``plan(desired, observed) -> Plan``. Pure.

A purely computational function with no side effects: it diffs the desired
state (from the specs) against the observed state (read by the observers)
and returns the plan that makes the world match, as a complete program:
units of typed actions in execution order, each stack unit holding what
Compose needs, with a reason for every action and for every resource left
alone, and the preconditions apply re-checks. The same inputs always give
the same plan, whatever the order of the observed items.

Parts, mirroring the observers: :mod:`.parameters` (SSM), :mod:`.images`
(registries, engines), :mod:`.stacks` (Compose, per host), which hands each
service to :mod:`.services` (create, recreate, start or keep) and what should
not be there to :mod:`.leftovers`; with :mod:`.targets` (environment, config
hash), :mod:`.order` (depends_on order) and :mod:`.override` (the Compose
override). Every part returns values; none changes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.actions import Action, DeleteParameter, PutParameter, RemoveService, RunJob, ServiceAction
from reconciler.core.instance_health import unreachable_ticks
from reconciler.core.model import DesiredState
from reconciler.core.observed import ObservedState
from reconciler.core.plan import (
    PARAMETERS_UNIT,
    PRUNE_UNIT,
    ParameterVersion,
    Plan,
    Precondition,
    Problem,
    Unchanged,
    Unit,
    stack_unit_id,
)
from reconciler.planner.common import ParameterIndex
from reconciler.planner.fleet import expand_fleets, fleet_findings
from reconciler.planner.images import plan_images
from reconciler.planner.parameters import ownership_queries, plan_parameters
from reconciler.planner.rollout import plan_rollouts
from reconciler.planner.stacks import StackContext, plan_stack
from reconciler.planner.targets import parameters_read, service_targets, stack_sets
from reconciler.planner.unhealthy import after_rollout, choose, observed_troubles

__all__ = ["expand_fleets", "ownership_queries", "plan", "service_targets"]


def _with_needs(action: Action, reads: Mapping[str, frozenset[str]], written: set[str]) -> Action:
    """A service action that creates or replaces containers, and a job (its service's values), waits for
    the writes it reads."""
    if not isinstance(action, ServiceAction | RunJob) or isinstance(action, RemoveService):
        return action
    needs = tuple(sorted(reads.get(action.service, frozenset()) & written))
    return replace(action, needs=needs) if needs else action


def plan(
    desired: DesiredState, observed: ObservedState, *, unreachable_before: Mapping[str, int] | None = None
) -> Plan:
    """The plan that takes ``observed`` to ``desired``. Pure and deterministic.

    Units: the PutParameters (by name); then per stack (by name) one unit per
    host in the stack's rollout order, each after the same stack's previous
    host unit; each service action there needs the parameter writes it reads
    (the unit's ``needs`` are their union);
    then the DeleteParameters (by name), only once everything else succeeded.
    A stack whose image does not resolve, or which needs a parameter that has
    no value, gets a Problem and no units; a host that could not be observed
    gets a Problem and so do the stack's hosts after it (not a fleet's other instances); the rest is planned.
    A fleet's instance that cannot be reconciled may be marked unhealthy, last (:mod:`.unhealthy`;
    ``unreachable_before``: instance id -> consecutive ticks its engine was unreachable before this one).
    """
    fleet_problems, fleet_notes = fleet_findings(desired, observed.fleets)
    declared, desired = desired, expand_fleets(desired, observed.fleets)
    index = ParameterIndex.build(desired)
    parameters = plan_parameters(desired, observed, index)
    ctx = StackContext.build(desired, observed, index, parameters.unavailable)
    puts = [a for a in parameters.puts if isinstance(a, PutParameter)]
    written: dict[str, list[str]] = {}
    for action in puts:
        written.setdefault(action.set_name, []).append(action.name)
    units: list[Unit] = []
    if puts:
        units.append(Unit(id=PARAMETERS_UNIT, actions=tuple(puts)))
    preconditions: list[Precondition] = []
    stack_unchanged: list[Unchanged] = []
    stack_problems: list[Problem] = []
    blocked: dict[str, list[str]] = {}
    for stack in sorted(desired.stacks, key=lambda s: (s.name, s.project)):
        result = plan_stack(stack, ctx)
        stack_unchanged.extend(result.unchanged)
        stack_problems.extend(result.problems)
        for image in result.blocking_images:
            blocked.setdefault(image, []).append(stack.name)
        stack_written = {name for set_name in stack_sets(stack) for name in written.get(set_name, ())}
        reads = parameters_read(stack, index)
        previous: str | None = None
        for host_plan in result.hosts:
            unit_id = stack_unit_id(host_plan.host, stack.name)
            actions = tuple(_with_needs(a, reads, stack_written) for a in host_plan.actions)
            needs = sorted({name for a in actions if isinstance(a, ServiceAction | RunJob) for name in a.needs})
            units.append(
                Unit(
                    id=unit_id,
                    host=host_plan.host,
                    stack=stack.name,
                    actions=actions,
                    after=(previous,) if previous else (),
                    needs=tuple(needs),
                    compose=host_plan.compose,
                )
            )
            if host_plan.assumed is not None:
                preconditions.append(host_plan.assumed)
            previous = unit_id
    deletes = [a for a in parameters.deletes if isinstance(a, DeleteParameter)]
    if deletes:
        units.append(Unit(id=PRUNE_UNIT, actions=tuple(deletes), requires_all=True))
    versions: list[Precondition] = []
    for name in (*(a.name for a in puts), *(a.name for a in deletes)):
        current = observed.parameters.get(name)
        versions.append(ParameterVersion(name, current.version if current is not None else None))
    rollout = plan_rollouts(units, declared, observed.fleets)
    units, fleet_problems = list(rollout.units), [*fleet_problems, *rollout.problems]
    troubles = observed_troubles(observed.fleets, observed.hosts, unreachable_before or {})
    verdict = choose(troubles, observed.fleets, declared.rollout, unreachable_ticks(declared.rollout))
    units += [after_rollout(verdict.unit, units)] if verdict.unit is not None else []
    fleet_problems += verdict.problems
    images = plan_images(desired, observed, blocked)
    unchanged = [
        *sorted(parameters.unchanged, key=lambda u: u.address),
        *images.unchanged,
        *fleet_notes,
        *stack_unchanged,
    ]
    problems = sorted(
        [*parameters.problems, *images.problems, *fleet_problems, *stack_problems], key=lambda p: (p.address, p.message)
    )
    return Plan(
        environment=desired.environment,
        units=tuple(units),
        unchanged=tuple(unchanged),
        problems=tuple(problems),
        preconditions=(*versions, *preconditions),
        troubles=troubles,
    )
