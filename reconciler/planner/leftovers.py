"""The planner's leftovers of a stack on a host: what is there that the compose file does not ask for. Pure.

Containers an interrupted Compose recreate left under their temporary name,
containers beyond the replicas the compose file asks for and networks that
share one project network's name (both from two runs at once) are removed;
owned containers of services gone from the compose file (orphans) are
removed when the stack prunes. What this environment does not own is
reported and left alone, and so are look-alikes: containers that carry the
project's labels but that Compose did not make. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from reconciler.core.actions import Action, Change, RemoveContainer, RemoveNetwork, RemoveService
from reconciler.core.model import (
    COMPOSE_CONTAINER_NUMBER,
    ServiceSpec,
    StackSpec,
    leftover_of_recreate,
    made_by_compose,
)
from reconciler.core.observed import ObservedContainer, ObservedNetwork
from reconciler.core.plan import Unchanged
from reconciler.planner.common import (
    Draft,
    container_address,
    container_view,
    duplicate_network_address,
    service_address,
)


def is_leftover(container: ObservedContainer) -> bool:
    """Whether the container still has the temporary name of an interrupted Compose recreate."""
    return leftover_of_recreate(container.name, container.project, container.service)


def _remove_container(
    host: str, stack: StackSpec, container: ObservedContainer, owner: str, reason: str
) -> RemoveContainer:
    return RemoveContainer(
        change=Change(container_address(host, stack.name, container.name), container_view(container), None),
        reason=reason,
        host=host,
        stack=stack.name,
        project=stack.project,
        service=container.service,
        container_id=container.id,
        name=container.name,
        owner=owner,
    )


def plan_recreate_leftovers(
    host: str, stack: StackSpec, owner: str, containers: Sequence[ObservedContainer]
) -> Draft:
    """Containers an interrupted Compose recreate left under their temporary name: removed first
    when this environment owns them, else reported and left alone."""
    actions: list[Action] = []
    unchanged: list[Unchanged] = []
    for c in sorted((c for c in containers if made_by_compose(c.labels) and is_leftover(c)), key=lambda c: c.name):
        address = container_address(host, stack.name, c.name)
        if c.owner != owner:
            reason = f"left by an interrupted recreate; not owned by {owner}; left alone"
            unchanged.append(Unchanged(address, reason))
            continue
        reason = f"left by an interrupted recreate of {c.service} (still named {c.name})"
        actions.append(_remove_container(host, stack, c, owner, reason))
    return Draft(actions=tuple(actions), unchanged=tuple(unchanged))


def plan_lookalikes(host: str, stack: StackSpec, containers: Sequence[ObservedContainer]) -> tuple[Unchanged, ...]:
    """Containers that carry the project's labels but that Compose did not make (by name): never
    acted on or waited for, and listed as unchanged with why."""
    return tuple(
        Unchanged(
            container_address(host, stack.name, c.name),
            f"container {c.name} on {host} carries project {c.project}'s labels"
            f"{f' (service {c.service})' if c.service else ''} but was not made by Compose: left alone",
        )
        for c in sorted(containers, key=lambda c: c.name)
        if not made_by_compose(c.labels)
    )


def plan_duplicate_networks(host: str, stack: StackSpec, networks: Iterable[ObservedNetwork]) -> tuple[Action, ...]:
    """Several networks with one project network's name (two runs at once): Compose refuses the
    ambiguous name. The oldest stays; the others are removed (the executor never removes one in use)."""
    groups: dict[str, list[ObservedNetwork]] = {}
    for network in networks:
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
    return tuple(actions)


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


def extra_containers(
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


def plan_extras(host: str, stack: StackSpec, owner: str, extras: Sequence[ObservedContainer]) -> tuple[Action, ...]:
    """A RemoveContainer for each of :func:`extra_containers` (by name)."""
    return tuple(
        _remove_container(
            host,
            stack,
            c,
            owner,
            f"one container more than the compose file asks for {c.service} (two runs at once)",
        )
        for c in sorted(extras, key=lambda c: c.name)
    )


def plan_orphans(host: str, stack: StackSpec, owner: str, containers: Sequence[ObservedContainer]) -> Draft:
    """Services gone from the compose file: their owned containers removed when the stack prunes,
    else reported and left alone (by service name)."""
    actions: list[Action] = []
    unchanged: list[Unchanged] = []
    declared = {s.name for s in stack.services}
    by_service: dict[str, list[ObservedContainer]] = {}
    for c in containers:
        if c.service not in declared:
            by_service.setdefault(c.service, []).append(c)
    for name in sorted(by_service):
        group = by_service[name]
        address = service_address(host, stack.name, name)
        owned = [c for c in group if c.owner == owner]
        if not owned:
            unchanged.append(Unchanged(address, f"not in the compose file; not owned by {owner}; left alone"))
            continue
        if not stack.prune_services:
            unchanged.append(Unchanged(address, "not in the compose file; prune is off for this stack"))
            continue
        foreign = len(group) - len(owned)
        note = f"; {foreign} container(s) not owned by {owner} left alone" if foreign else ""
        first = min(owned, key=lambda c: c.id)
        actions.append(
            RemoveService(
                change=Change(address, container_view(first), None),
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
    return Draft(actions=tuple(actions), unchanged=tuple(unchanged))
