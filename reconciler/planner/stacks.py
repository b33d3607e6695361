"""The planner's Compose part: per stack and host, pulls, networks, volumes, services. Pure.

For each host a stack runs on (in the stack's rollout order): the images to
pull into that host's engine, the networks and volumes that are missing, and
per service (in dependency order) whether to create, recreate, start or
leave it, with a reason that names what changed when it can be told (image,
variables); owned containers of services gone from the compose file are
removed. Each host with something to do gets a :class:`HostPlan` with the
Compose project (override document, interpolation values) the executor
hands to Compose. A host that could not be observed is a Problem, and so
are the stack's hosts after it. Targets and hashes come from
:mod:`.targets`. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.core.model import (
    COMPOSE_CONTAINER_NUMBER,
    DesiredState,
    HostSpec,
    ImageSpec,
    ObservedContainer,
    ObservedHost,
    ObservedNetwork,
    ObservedState,
    Sensitive,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
    Value,
    is_oneoff,
    leftover_of_recreate,
    made_by_compose,
)
from reconciler.core.plan import (
    Action,
    Change,
    ComposeProject,
    CreateService,
    ExpectNetwork,
    ExpectVolume,
    Problem,
    ProjectContainers,
    RecreateService,
    RemoveContainer,
    RemoveNetwork,
    RemoveService,
    ServiceAction,
    StartService,
    Unchanged,
    containers_fingerprint,
)
from reconciler.planner.common import (
    Draft,
    ParameterIndex,
    container_address,
    duplicate_network_address,
    host_stack_address,
    network_address,
    same_value,
    secret,
    service_address,
    short,
    stack_address,
    volume_address,
)
from reconciler.planner.images import plan_pulls
from reconciler.planner.order import service_order, waits
from reconciler.planner.override import render_override
from reconciler.planner.targets import (
    config_hash,
    environment,
    injected_keys,
    service_networks,
    stack_digests,
    stack_sets,
    targets,
    used_keys,
)

# --------------------------------------------------------------------------
# the stack plan
# --------------------------------------------------------------------------


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
        for group in containers.values():
            group.sort(key=lambda c: (c.service, c.id))
        return cls(
            observed=host,
            containers=containers,
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


@dataclass
class HostPlan:
    """One stack on one host: its actions, what it assumed, and what Compose needs."""

    host: str
    actions: list[Action] = field(default_factory=list)
    compose: ComposeProject | None = None
    assumed: ProjectContainers | None = None


@dataclass
class StackPlan:
    hosts: list[HostPlan] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blocking_images: list[str] = field(default_factory=list)


def _container_view(container: ObservedContainer) -> dict[str, object]:
    return {"image": container.image, "config_hash": container.config_hash, "state": container.state}


def _target_view(target: ServiceTarget) -> dict[str, object]:
    return {"image": target.image, "config_hash": target.config_hash, "state": "running"}


class _ObservedEnv:
    """The stack's env as SSM holds it now, computed once per stack and host when first needed."""

    def __init__(self, stack: StackSpec, ctx: StackContext, host: HostSpec | None) -> None:
        self._stack = stack
        self._ctx = ctx
        self._host = host
        self._env: dict[str, Value] | None = None
        self._differing: frozenset[str] | None = None

    def get(self) -> Mapping[str, Value]:
        if self._env is None:
            self._env = environment(
                self._stack, self._ctx.index, self._ctx.observed, self._host, as_observed=True
            )
        return self._env

    def differing(self, env: Mapping[str, Value]) -> frozenset[str]:
        """Names whose value in ``env`` (the spec's, same for the whole stack) differs from SSM's now."""
        if self._differing is None:
            old = self.get()
            self._differing = frozenset(
                key
                for key in old.keys() | env.keys()
                if key not in old or key not in env or not same_value(old[key], env[key])
            )
        return self._differing


@dataclass
class _ServiceInputs:
    host: str
    stack: StackSpec
    service: ServiceSpec
    target: ServiceTarget
    env: Mapping[str, Value]
    ctx: StackContext
    waits: tuple[bool, bool]  # (wait_healthy, wait_completed)
    old_env: _ObservedEnv
    missing_networks: frozenset[str] = frozenset()  # keys of the stack's networks gone from the host

    def observed_env(self) -> Mapping[str, Value]:
        return self.old_env.get()

    def hash_with(self, image: str, env: Mapping[str, Value]) -> str:
        return config_hash(self.service, image, self.stack.project, self.ctx.index, env)


def _image_change(inputs: _ServiceInputs, old_image: str) -> str:
    ref = inputs.service.image
    new_repo, _, new_digest = inputs.target.image.partition("@")
    old_repo, _, old_digest = old_image.partition("@")
    if ref is not None and ref.tag and old_repo == new_repo and old_digest:
        return f"image {ref.key} now resolves to {short(new_digest)} (container runs {short(old_digest)})"
    return f"image changed: {old_image} -> {inputs.target.image}"


def _changed_variables(inputs: _ServiceInputs) -> list[str]:
    """Env names the service uses whose spec value differs from SSM's value now."""
    differing = inputs.old_env.differing(inputs.env)
    if not differing:
        return []
    used = set(inputs.service.variables) | set(injected_keys(inputs.service, inputs.ctx.index))
    return sorted(used & differing)


def _explain_recreate(
    inputs: _ServiceInputs, container: ObservedContainer, before: dict[str, object], after: dict[str, object]
) -> list[str]:
    """Reason fragments for a config hash mismatch; fills variable before/after when known."""
    old_hash = container.config_hash
    if old_hash is None:
        return ["container has no config hash label"]
    old_image = container.image if container.image and container.image != inputs.target.image else None
    changed = _changed_variables(inputs)
    old_env = inputs.observed_env()
    candidates: list[tuple[str | None, bool]] = []
    if old_image is not None:
        candidates.append((old_image, False))
    if changed:
        candidates.append((None, True))
        if old_image is not None:
            candidates.append((old_image, True))
    for image, variables in candidates:
        env = old_env if variables else inputs.env
        if inputs.hash_with(image or inputs.target.image, env) != old_hash:
            continue
        reasons: list[str] = []
        if image is not None:
            reasons.append(_image_change(inputs, image))
        if variables:
            reasons.append(f"variables changed: {', '.join(changed)}")
            before["variables"] = {k: _shown(inputs, k, old_env[k]) for k in changed if k in old_env}
            after["variables"] = {k: _shown(inputs, k, inputs.env[k]) for k in changed if k in inputs.env}
        return reasons
    reasons = [_image_change(inputs, old_image)] if old_image is not None else []
    reasons.append(f"configuration changed (hash {short(old_hash)} -> {short(inputs.target.config_hash)})")
    return reasons


def _shown(inputs: _ServiceInputs, key: str, value: Value) -> Value:
    """A variable's value for a Change: Sensitive when any side of it is secret."""
    secret_key = isinstance(inputs.env.get(key), Sensitive) or isinstance(
        inputs.observed_env().get(key), Sensitive
    )
    return secret(value) if secret_key else value


def _action(
    cls: type[ServiceAction], inputs: _ServiceInputs, change: Change, reason: str, ids: Iterable[str]
) -> ServiceAction:
    return cls(
        change=change,
        reason=reason,
        host=inputs.host,
        stack=inputs.stack.name,
        project=inputs.stack.project,
        service=inputs.service.name,
        owner=inputs.ctx.desired.owner,
        config_hash=inputs.target.config_hash,
        image=inputs.target.image,
        container_ids=tuple(sorted(ids)),
        wait_healthy=inputs.waits[0],
        wait_completed=inputs.waits[1],
        depends_on=tuple(sorted({d.service for d in inputs.service.depends_on} - {inputs.service.name})),
        needs=(),
    )


def _plan_service(
    inputs: _ServiceInputs, containers: Sequence[ObservedContainer]
) -> ServiceAction | Unchanged:
    stack, service, target = inputs.stack, inputs.service, inputs.target
    owner = inputs.ctx.desired.owner
    address = service_address(inputs.host, stack.name, service.name)
    if not containers:
        after = _target_view(target)
        after["environment"] = used_keys(service, inputs.ctx.index, inputs.env)
        return _action(CreateService, inputs, Change(address, None, after), "not found", ())
    stale = [c for c in containers if c.config_hash != target.config_hash or c.owner != owner]
    if stale:
        culprit = min(stale, key=lambda c: c.id)
        before = _container_view(culprit)
        after = _target_view(target)
        reasons: list[str] = []
        if culprit.owner != owner:
            before["owner"] = culprit.owner
            after["owner"] = owner
            reasons.append(
                "container has no owner label (adopting)"
                if culprit.owner is None
                else f"container owned by {culprit.owner} (taking over)"
            )
        if culprit.config_hash != target.config_hash:
            reasons += _explain_recreate(inputs, culprit, before, after)
        change = Change(address, before, after)
        return _action(RecreateService, inputs, change, "; ".join(reasons), (c.id for c in containers))
    stopped = [c for c in containers if c.state != "running"]
    if stopped:
        first = min(stopped, key=lambda c: c.id)
        states = ", ".join(sorted({c.state for c in stopped}))
        reason = (
            f"container stopped ({states})"
            if len(containers) == 1
            else f"{len(stopped)} of {len(containers)} containers stopped ({states})"
        )
        change = Change(address, _container_view(first), _target_view(target))
        gone = sorted(inputs.missing_networks & service_networks(service))
        if gone:
            # a stopped container cannot start once its network was removed: Docker refuses
            reason += f"; its network {', '.join(gone)} was removed, so it is recreated"
            return _action(RecreateService, inputs, change, reason, (c.id for c in containers))
        return _action(StartService, inputs, change, reason, (c.id for c in stopped))
    count = f"{len(containers)} containers " if len(containers) > 1 else ""
    unhealthy = " (unhealthy)" if any(c.health == "unhealthy" for c in containers) else ""
    return Unchanged(address, f"{count}running with config hash {short(target.config_hash)}{unhealthy}")


def _plan_orphans(
    host: str, stack: StackSpec, ctx: StackContext, containers: Sequence[ObservedContainer]
) -> Draft:
    out = Draft()
    declared = {s.name for s in stack.services}
    by_service: dict[str, list[ObservedContainer]] = {}
    for c in containers:
        if c.service not in declared:
            by_service.setdefault(c.service, []).append(c)
    owner = ctx.desired.owner
    for name in sorted(by_service):
        group = by_service[name]
        address = service_address(host, stack.name, name)
        owned = [c for c in group if c.owner == owner]
        if not owned:
            out.unchanged.append(
                Unchanged(address, f"not in the compose file; not owned by {owner}; left alone")
            )
            continue
        if not stack.prune_services:
            out.unchanged.append(Unchanged(address, "not in the compose file; prune is off for this stack"))
            continue
        foreign = len(group) - len(owned)
        note = f"; {foreign} container(s) not owned by {owner} left alone" if foreign else ""
        first = min(owned, key=lambda c: c.id)
        out.actions.append(
            RemoveService(
                change=Change(address, _container_view(first), None),
                reason=f"not in the compose file; owned by {owner}{note}",
                host=host,
                stack=stack.name,
                project=stack.project,
                service=name,
                owner=owner,
                config_hash=first.config_hash or "",
                image=first.image,
                container_ids=tuple(sorted(c.id for c in owned)),
                wait_healthy=False,
                wait_completed=False,
                depends_on=(),
                needs=(),
            )
        )
    return out


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


def _leftover(container: ObservedContainer) -> bool:
    return leftover_of_recreate(container.name, container.project, container.service)


def _remove_container(
    host: str, stack: StackSpec, container: ObservedContainer, owner: str, reason: str
) -> RemoveContainer:
    return RemoveContainer(
        change=Change(container_address(host, stack.name, container.name), _container_view(container), None),
        reason=reason,
        host=host,
        stack=stack.name,
        project=stack.project,
        service=container.service,
        container_id=container.id,
        name=container.name,
        owner=owner,
    )


def _plan_leftovers(
    host: str, stack: StackSpec, ctx: StackContext, containers: Sequence[ObservedContainer], out: StackPlan
) -> list[Action]:
    """Containers an interrupted Compose recreate left under their temporary name: removed first
    when this environment owns them, else reported and left alone."""
    actions: list[Action] = []
    owner = ctx.desired.owner
    for c in sorted((c for c in containers if made_by_compose(c.labels) and _leftover(c)), key=lambda c: c.name):
        address = container_address(host, stack.name, c.name)
        if c.owner != owner:
            reason = f"left by an interrupted recreate; not owned by {owner}; left alone"
            out.unchanged.append(Unchanged(address, reason))
            continue
        reason = f"left by an interrupted recreate of {c.service} (still named {c.name})"
        actions.append(_remove_container(host, stack, c, owner, reason))
    return actions


def _plan_duplicate_networks(host: str, stack: StackSpec, view: HostView) -> list[Action]:
    """Several networks with one project network's name (two runs at once): Compose refuses the
    ambiguous name. The oldest stays; the others are removed (the executor never removes one in use)."""
    groups: dict[str, list[ObservedNetwork]] = {}
    for network in view.observed.networks:
        if network.project == stack.project:
            groups.setdefault(network.key, []).append(network)
    actions: list[Action] = []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=lambda n: (n.created, n.id))
        for extra in ordered[1:]:
            actions.append(
                RemoveNetwork(
                    change=Change(
                        duplicate_network_address(host, stack.name, key, extra.id),
                        {"name": extra.name, "id": extra.id},
                        None,
                    ),
                    reason=f"{len(ordered)} networks are named {extra.name} (two runs at once); the oldest stays",
                    host=host,
                    stack=stack.name,
                    project=stack.project,
                    key=key,
                    network_id=extra.id,
                    name=extra.name,
                )
            )
    return actions


def _replicas(service: ServiceSpec) -> int | None:
    """How many containers the compose file asks for (``scale``, ``deploy.replicas``; 1 when
    it says nothing); None when it cannot be told (a variable)."""
    try:
        definition = json.loads(service.definition)
    except ValueError:
        return 1
    deploy = definition.get("deploy") if isinstance(definition, dict) else None
    value = definition.get("scale") if isinstance(definition, dict) else None
    if value is None and isinstance(deploy, dict):
        value = deploy.get("replicas")
    if value is None:
        return 1
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _extra_containers(
    stack: StackSpec, containers: Sequence[ObservedContainer], owner: str
) -> list[ObservedContainer]:
    """Owned containers beyond what the compose file asks for (two runs at once started a
    second one): the highest container numbers go."""
    extras: list[ObservedContainer] = []
    for service in stack.services:
        wanted = _replicas(service)
        mine = [c for c in containers if c.service == service.name]
        if wanted is None or len(mine) <= wanted:
            continue
        by_number = sorted(mine, key=lambda c: (int(c.labels.get(COMPOSE_CONTAINER_NUMBER, "0") or 0), c.id))
        extras += [c for c in by_number[wanted:] if c.owner == owner]
    return extras


def _remove_extras(
    host: str, stack: StackSpec, ctx: StackContext, extras: Sequence[ObservedContainer]
) -> list[Action]:
    return [
        _remove_container(
            host,
            stack,
            c,
            ctx.desired.owner,
            f"one container more than the compose file asks for {c.service} (two runs at once)",
        )
        for c in sorted(extras, key=lambda c: c.name)
    ]


def _noted(decision: ServiceAction | Unchanged, lookalikes: Sequence[ObservedContainer]) -> ServiceAction | Unchanged:
    """Containers that carry the service's labels but were not made by Compose are never acted on
    or waited for; the decision says they were seen."""
    if not lookalikes:
        return decision
    names = ", ".join(sorted(c.name for c in lookalikes))
    note = f"; {len(lookalikes)} look-alike container(s) not made by Compose left alone ({names})"
    if isinstance(decision, Unchanged):
        return Unchanged(decision.address, decision.reason + note)
    return replace(decision, reason=decision.reason + note)


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


def _plan_host(
    stack: StackSpec,
    ctx: StackContext,
    host: str,
    view: HostView,
    digests: Mapping[str, str],
    out: StackPlan,
) -> HostPlan:
    spec = ctx.desired.host(host)
    env = environment(stack, ctx.index, ctx.observed, spec)
    wanted = targets(stack, ctx.index, env, digests)
    result = HostPlan(host)
    refs = [s.image for s in stack.services if s.image is not None]
    pulls = plan_pulls(host, stack.name, refs, view.observed.local_images, digests)
    result.actions.extend(pulls.actions)
    out.unchanged.extend(pulls.unchanged)
    result.actions.extend(_plan_duplicate_networks(host, stack, view))
    resources = (
        (stack.networks, view.networks, network_address, ExpectNetwork),
        (stack.volumes, view.volumes, volume_address, ExpectVolume),
    )
    for keys, existing, address_of, expect in resources:
        for key in keys:
            address = address_of(host, stack.name, key)
            if (stack.project, key) in existing:
                out.unchanged.append(Unchanged(address, "exists"))
                continue
            result.actions.append(
                expect(
                    change=Change(address, None, {"project": stack.project, "key": key}),
                    reason="not found",
                    host=host,
                    stack=stack.name,
                    project=stack.project,
                    key=key,
                )
            )
    everything = view.containers.get(stack.project, ())
    containers = [c for c in everything if made_by_compose(c.labels) and not _leftover(c)]
    result.actions.extend(_plan_leftovers(host, stack, ctx, everything, out))
    extras = _extra_containers(stack, containers, ctx.desired.owner)
    result.actions.extend(_remove_extras(host, stack, ctx, extras))
    containers = [c for c in containers if c not in extras]
    lookalikes: dict[str, list[ObservedContainer]] = {}
    for c in everything:
        if not made_by_compose(c.labels):
            lookalikes.setdefault(c.service, []).append(c)
    by_service: dict[str, list[ObservedContainer]] = {}
    for c in containers:
        by_service.setdefault(c.service, []).append(c)
    service_waits = waits(stack)
    old_env = _ObservedEnv(stack, ctx, spec)
    missing = frozenset(key for key in stack.networks if (stack.project, key) not in view.networks)
    services: list[Action] = []
    for service in service_order(stack):
        inputs = _ServiceInputs(
            host, stack, service, wanted[service.name], env, ctx, service_waits[service.name], old_env, missing
        )
        decision = _noted(_plan_service(inputs, by_service.get(service.name, ())), lookalikes.get(service.name, ()))
        if isinstance(decision, Unchanged):
            out.unchanged.append(decision)
        else:
            services.append(decision)
    orphans = _plan_orphans(host, stack, ctx, containers)
    services.extend(orphans.actions)
    out.unchanged.extend(orphans.unchanged)
    result.actions.extend(services)
    if services or result.actions:
        result.assumed = ProjectContainers(
            host,
            stack.project,
            containers_fingerprint(everything),
        )
    if any(isinstance(a, ServiceAction) and not isinstance(a, RemoveService) for a in services):
        injected = {svc.name: tuple(injected_keys(svc, ctx.index)) for svc in stack.services}
        result.compose = ComposeProject(
            project=stack.project,
            project_dir=stack.project_dir,
            compose_file=stack.compose_file,
            override=render_override(stack, wanted, ctx.desired.owner, ctx.desired.environment, injected),
            environment=env,
        )
    return result


def plan_stack(stack: StackSpec, ctx: StackContext) -> StackPlan:
    """For each host of the stack (rollout order): pulls, networks, volumes, service actions
    (dependency order), removals."""
    result = StackPlan()
    digests, missing = stack_digests(stack, ctx.observed)
    blockers = _blockers(stack, ctx, missing)
    if blockers:
        result.blocking_images = sorted(missing)
        result.problems.append(Problem(stack_address(stack.name), "not planned: " + "; ".join(blockers)))
        return result
    earlier: str | None = None
    for host in stack.hosts:
        view = ctx.hosts.get(host)
        problem = _host_unavailable(stack, view, earlier, host)
        if problem is not None or view is None:
            if problem is not None:
                result.problems.append(problem)
            earlier = earlier or host
            continue
        planned = _plan_host(stack, ctx, host, view, digests, result)
        if planned.actions:
            result.hosts.append(planned)
    return result
