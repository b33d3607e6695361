"""Order of a stack's services and what to wait for. Pure.

Services go in depends_on topological order (ties by name), so a service is
created after what it depends on; a service others depend on with
``service_healthy`` / ``service_completed_successfully`` is waited for.
"""

from __future__ import annotations

import heapq

from reconciler.core.model import ServiceSpec, StackSpec


def service_order(stack: StackSpec) -> list[ServiceSpec]:
    """Services in depends_on topological order, ties by name (cycles: rest by name)."""
    by_name = {s.name: s for s in stack.services}
    needs = {
        name: {d.service for d in s.depends_on if d.service in by_name and d.service != name}
        for name, s in by_name.items()
    }
    dependents: dict[str, list[str]] = {name: [] for name in by_name}
    for name, deps in needs.items():
        for dep in deps:
            dependents[dep].append(name)
    waiting = {name: len(deps) for name, deps in needs.items()}
    ready = [name for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    order += sorted(name for name in by_name if name not in order)
    return [by_name[name] for name in order]


def waits(stack: StackSpec) -> dict[str, tuple[bool, bool]]:
    """Service -> (wait_healthy, wait_completed) from the other services' depends_on."""
    healthy: set[str] = set()
    completed: set[str] = set()
    for service in stack.services:
        for dep in service.depends_on:
            if dep.service == service.name:
                continue
            if dep.condition == "service_healthy":
                healthy.add(dep.service)
            elif dep.condition == "service_completed_successfully":
                completed.add(dep.service)
    return {s.name: (s.name in healthy, s.name in completed) for s in stack.services}
