"""The planner's Compose part: a stack on each of its hosts, and the host's unit of work. Pure.

For each host a stack runs on (in the stack's rollout order), one
:class:`HostPlan` holds, in execution order: the images to pull into that
host's engine (:mod:`.images`), duplicate networks to remove, the networks
and volumes that are missing, leftover and extra containers to remove
(:mod:`.leftovers`), a decision per service in dependency order
(:mod:`.services`), then orphans to remove; look-alike containers (not made
by Compose) are listed as unchanged, left alone; and the Compose project
(override document, interpolation values) the executor hands to Compose.
A stack whose image does not resolve or which needs a parameter without a
value is a Problem, and so is a host that could not be observed, with the
stack's hosts after it. Targets and hashes come from :mod:`.targets`. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.core.actions import Action, Change, ExpectNetwork, ExpectVolume, RemoveService, ServiceAction
from reconciler.core.model import DesiredState, ImageSpec, ServiceTarget, StackSpec, Value, is_oneoff, made_by_compose
from reconciler.core.observed import ObservedContainer, ObservedHost, ObservedState
from reconciler.core.plan import ComposeProject, Problem, ProjectContainers, Unchanged, containers_fingerprint
from reconciler.planner.common import (
    Draft,
    ParameterIndex,
    host_stack_address,
    network_address,
    stack_address,
    volume_address,
)
from reconciler.planner.images import plan_pulls
from reconciler.planner.jobs import place_jobs, plan_jobs
from reconciler.planner.leftovers import (
    extra_containers,
    is_leftover,
    plan_duplicate_networks,
    plan_extras,
    plan_lookalikes,
    plan_orphans,
    plan_recreate_leftovers,
)
from reconciler.planner.order import service_order, waits
from reconciler.planner.override import render_override
from reconciler.planner.services import ObservedEnv, ServiceInputs, plan_services
from reconciler.planner.targets import environment, injected_keys, stack_digests, stack_sets, targets


@dataclass(frozen=True)
class HostView:
    """One observed host, indexed once per plan."""

    observed: ObservedHost
    containers: Mapping[str, Sequence[ObservedContainer]]  # project -> containers (no one-offs)
    networks: frozenset[tuple[str, str]]  # (project, key)
    volumes: frozenset[tuple[str, str]]

    @classmethod
    def build(cls, host: ObservedHost) -> HostView:
        containers: dict[str, list[ObservedContainer]] = {}
        for c in host.containers:
            if not is_oneoff(c.labels):
                containers.setdefault(c.project, []).append(c)
        return cls(
            observed=host,
            containers={
                project: tuple(sorted(group, key=lambda c: (c.service, c.id)))
                for project, group in containers.items()
            },
            networks=frozenset((n.project, n.key) for n in host.networks),
            volumes=frozenset((v.project, v.key) for v in host.volumes),
        )


@dataclass(frozen=True)
class StackContext:
    """Everything plan_stack reads, indexed once per plan."""

    desired: DesiredState
    observed: ObservedState
    index: ParameterIndex
    unavailable: frozenset[str]
    hosts: Mapping[str, HostView]

    @classmethod
    def build(
        cls, desired: DesiredState, observed: ObservedState, index: ParameterIndex, unavailable: Iterable[str]
    ) -> StackContext:
        names = {name for stack in desired.stacks for name in stack.hosts}
        return cls(
            desired=desired,
            observed=observed,
            index=index,
            unavailable=frozenset(unavailable),
            hosts={name: HostView.build(observed.host(name)) for name in sorted(names)},
        )


@dataclass(frozen=True)
class HostPlan:
    """One stack on one host: its actions, what it left unchanged, what it assumed, and what Compose
    needs."""

    host: str
    actions: tuple[Action, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    compose: ComposeProject | None = None
    assumed: ProjectContainers | None = None
    targets: Mapping[str, ServiceTarget] = field(default_factory=dict)  # what each service should run here


@dataclass(frozen=True)
class StackPlan:
    """One stack: the plans of its hosts with something to do (rollout order), what it left
    unchanged, its problems, and the images that kept it from being planned."""

    hosts: tuple[HostPlan, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    problems: tuple[Problem, ...] = ()
    blocking_images: tuple[str, ...] = ()


def _blockers(stack: StackSpec, ctx: StackContext, missing: Mapping[str, ImageSpec]) -> list[str]:
    reasons = [f"image {name} ({missing[name].key}) not found" for name in sorted(missing)]
    unavailable = sorted(
        spec.name
        for set_name in stack_sets(stack)
        for spec in ctx.index.by_set.get(set_name, ())
        if spec.name in ctx.unavailable
    )
    reasons += [f"parameter {name} has no value" for name in unavailable]
    return reasons


def _host_unavailable(
    stack: StackSpec, view: HostView | None, earlier: str | None, name: str
) -> Problem | None:
    address = host_stack_address(name, stack.name)
    if earlier is not None:
        return Problem(
            address, f"not planned: host {earlier} comes before {name} in this stack's rollout and is unavailable"
        )
    if view is not None and view.observed.error is not None:
        return Problem(address, f"not planned: host {name} could not be observed: {view.observed.error}")
    return None


def _plan_networks_and_volumes(host: str, stack: StackSpec, view: HostView) -> Draft:
    """The stack's networks, then its volumes (declaration order): expected when missing."""
    actions: list[Action] = []
    unchanged: list[Unchanged] = []
    resources = (
        (stack.networks, view.networks, network_address, ExpectNetwork),
        (stack.volumes, view.volumes, volume_address, ExpectVolume),
    )
    for keys, existing, address_of, expect in resources:
        for key in keys:
            address = address_of(host, stack.name, key)
            if (stack.project, key) in existing:
                unchanged.append(Unchanged(address, "exists"))
                continue
            actions.append(
                expect(
                    change=Change(address, None, {"project": stack.project, "key": key}),
                    reason="not found",
                    host=host,
                    stack=stack.name,
                    project=stack.project,
                    key=key,
                )
            )
    return Draft(actions=tuple(actions), unchanged=tuple(unchanged))


def _compose_project(
    stack: StackSpec, ctx: StackContext, wanted: Mapping[str, ServiceTarget], env: Mapping[str, Value]
) -> ComposeProject:
    injected = {svc.name: tuple(injected_keys(svc, ctx.index)) for svc in stack.services}
    return ComposeProject(
        project=stack.project,
        project_dir=stack.project_dir,
        compose_file=stack.compose_file,
        override=render_override(stack, wanted, ctx.desired.owner, ctx.desired.environment, injected),
        environment=env,
    )


def _plan_host(stack: StackSpec, ctx: StackContext, host: str, view: HostView, digests: Mapping[str, str]) -> HostPlan:
    """The stack on one host: its actions in execution order (see the module), what it leaves
    unchanged, what it assumes of the host and the Compose project when a service is (re)made."""
    owner = ctx.desired.owner
    spec = ctx.desired.host(host)
    env = environment(stack, ctx.index, ctx.observed, spec)
    wanted = targets(stack, ctx.index, env, digests)
    refs = [s.image for s in stack.services if s.image is not None]
    everything = view.containers.get(stack.project, ())
    made = [c for c in everything if made_by_compose(c.labels) and not is_leftover(c)]
    extras = extra_containers(stack, made, owner)
    containers = [c for c in made if c not in extras]
    lookalikes = [c for c in everything if not made_by_compose(c.labels)]
    service_waits = waits(stack)
    old_env = ObservedEnv(stack, ctx.index, ctx.observed, spec, env)
    missing = frozenset(key for key in stack.networks if (stack.project, key) not in view.networks)
    inputs = (
        ServiceInputs(
            host=host,
            stack=stack,
            service=service,
            target=wanted[service.name],
            env=env,
            index=ctx.index,
            owner=owner,
            waits=service_waits[service.name],
            old_env=old_env,
            missing_networks=missing,
        )
        for service in service_order(stack)
    )
    pulls = plan_pulls(host, stack.name, refs, view.observed.local_images, digests)
    resources = _plan_networks_and_volumes(host, stack, view)
    leftovers = plan_recreate_leftovers(host, stack, owner, everything)
    decisions = plan_services(inputs, containers, lookalikes)
    orphans = plan_orphans(host, stack, owner, containers)
    actions = (
        *pulls.actions,
        *plan_duplicate_networks(host, stack, view.observed.networks),
        *resources.actions,
        *leftovers.actions,
        *plan_extras(host, stack, owner, extras),
        *decisions.actions,
        *orphans.actions,
    )
    unchanged = (
        *pulls.unchanged,
        *resources.unchanged,
        *leftovers.unchanged,
        *decisions.unchanged,
        *plan_lookalikes(host, stack, lookalikes),
        *orphans.unchanged,
    )
    creates = any(isinstance(a, ServiceAction) and not isinstance(a, RemoveService) for a in decisions.actions)
    return HostPlan(
        host,
        actions=actions,
        unchanged=unchanged,
        compose=_compose_project(stack, ctx, wanted, env) if creates else None,
        assumed=ProjectContainers(host, stack.project, containers_fingerprint(everything)) if actions else None,
        targets=wanted,
    )


def plan_stack(stack: StackSpec, ctx: StackContext) -> StackPlan:
    """For each host of the stack (rollout order): pulls, networks, volumes, service actions
    (dependency order), removals."""
    digests, missing = stack_digests(stack, ctx.observed)
    blockers = _blockers(stack, ctx, missing)
    if blockers:
        return StackPlan(
            problems=(Problem(stack_address(stack.name), "not planned: " + "; ".join(blockers)),),
            blocking_images=tuple(sorted(missing)),
        )
    hosts: list[HostPlan] = []
    unchanged: list[Unchanged] = []
    problems: list[Problem] = []
    earlier: str | None = None
    # a fleet's instances wait for no other instance (its rollout orders them): one that cannot be read
    # holds none of the others back
    instances = {h.name for h in ctx.desired.hosts if h.member_of is not None}
    wanted: dict[str, Mapping[str, ServiceTarget]] = {}  # host -> what each service should run there
    for host in stack.hosts:
        view = ctx.hosts.get(host)
        problem = _host_unavailable(stack, view, earlier, host)
        if problem is not None or view is None:
            if problem is not None:
                problems.append(problem)
            if host not in instances:
                earlier = earlier or host
            # what it should run there needs no look at the host: a job's hash stays the same
            env = environment(stack, ctx.index, ctx.observed, ctx.desired.host(host))
            wanted[host] = targets(stack, ctx.index, env, digests)
            continue
        planned = _plan_host(stack, ctx, host, view, digests)
        unchanged.extend(planned.unchanged)
        wanted[host] = planned.targets
        if planned.actions:
            hosts.append(planned)
    jobs = plan_jobs(stack, [(h.host, h.actions) for h in hosts], wanted, ctx.observed.jobs_done, ctx.desired.owner)
    unchanged.extend(jobs.unchanged)
    if jobs.host is not None:
        hosts = [replace(h, actions=place_jobs(h.actions, jobs.actions)) if h.host == jobs.host else h for h in hosts]
    return StackPlan(hosts=tuple(hosts), unchanged=tuple(unchanged), problems=tuple(problems))
