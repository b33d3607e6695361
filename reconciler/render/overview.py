"""What runs and whether it matches the specs (``reconciler status``): tables, by rich. Pure.

rich is imported only when a status is rendered. Secrets are never shown (no values at all).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler.core.actions import Action, DeleteParameter, PutParameter
from reconciler.core.address import (
    fleet_address,
    host_stack_address,
    image_address,
    parameter_address,
    service_address,
    stack_address,
)
from reconciler.core.model import DesiredState, is_oneoff
from reconciler.core.observed import ObservedContainer, ObservedState
from reconciler.core.plan import Plan
from reconciler.render.text import STYLES as _STYLES
from reconciler.render.text import summary, symbol

if TYPE_CHECKING:
    from rich.console import Console


def _console(buffer: io.StringIO, color: bool) -> Console:
    from rich.console import Console

    return Console(
        file=buffer,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        width=200,
        soft_wrap=True,
        highlight=False,
        emoji=False,
        markup=False,
    )


def _containers_summary(containers: Sequence[ObservedContainer]) -> str:
    if not containers:
        return "-"
    parts = []
    for c in sorted(containers, key=lambda c: c.id):
        parts.append(f"{c.state} ({c.health})" if c.health else c.state)
    return ", ".join(parts)


def render_status(plan: Plan, desired: DesiredState, observed: ObservedState, *, color: bool = False) -> str:
    """What runs and whether it matches the specs: parameters in sync, image
    resolution, and per stack a table of services (containers, image, what
    the plan would do). Secrets are never shown (no values at all)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = _console(buffer, color)
    console.print(Text(f"Environment {desired.environment} (owner {desired.owner})", style="bold"))
    by_address: dict[str, Action] = {a.address: a for a in plan.actions}
    unchanged = {u.address: u.reason for u in plan.unchanged}
    problems: dict[str, list[str]] = {}
    for problem in plan.problems:
        problems.setdefault(problem.address, []).append(problem.message)

    params = [a for a in plan.actions if isinstance(a, PutParameter | DeleteParameter)]
    declared = {parameter_address(p.name) for p in desired.parameters}
    in_sync = sum(1 for address in unchanged if address in declared)
    console.print()
    console.print(
        Text(
            f"Parameters: {len(desired.parameters)} declared, {in_sync} in sync, "
            f"{sum(1 for a in params if isinstance(a, PutParameter))} to write, "
            f"{sum(1 for a in params if isinstance(a, DeleteParameter))} to prune",
            style="bold",
        )
    )
    for address, messages in problems.items():
        if address.startswith("parameter:"):
            for message in messages:
                console.print(Text(f"  ! {message}", style="red"))

    if desired.images:
        table = Table("image", "reference", "resolves to", box=box.SIMPLE, show_edge=False)
        for ref in sorted(desired.images, key=lambda r: r.name):
            address = image_address(ref.name)
            if address in problems:
                table.add_row(ref.name, ref.key, Text("; ".join(problems[address]), style="red"))
            else:
                table.add_row(ref.name, ref.key, unchanged.get(address, ""))
        console.print()
        console.print(Text("Images:", style="bold"))
        console.print(table)

    for fleet in observed.fleets.values():
        console.print()
        console.print(Text(f"Fleet {fleet.name} (Auto Scaling group {fleet.group}):", style="bold"))
        for message in problems.get(fleet_address(fleet.name), []):
            console.print(Text(f"  ! {message}", style="red"))
        if fleet.error is not None:
            continue
        table = Table("instance", "state", "address", "target groups", box=box.SIMPLE, show_edge=False)
        for instance in fleet.instances:
            states = ", ".join(
                f"{g.name}: {t.state if (t := g.target(instance.id)) is not None else 'not registered'}"
                for g in fleet.target_groups
                if g.error is None
            )
            style = "" if instance.serves else "yellow"
            table.add_row(instance.id, Text(instance.state, style=style), instance.private_ip, states)
        console.print(table)
        alarming = [a.name for a in fleet.alarms if a.state == "ALARM"]
        if alarming:
            console.print(Text(f"  ! in ALARM: {', '.join(alarming)}", style="red"))

    for stack in sorted(desired.stacks, key=lambda s: s.name):
        stack_problems = problems.get(stack_address(stack.name), [])
        for host in stack.hosts:
            seen = observed.host(host)
            containers: dict[str, list[ObservedContainer]] = {}
            for c in seen.containers:
                if c.project == stack.project and not is_oneoff(c.labels):
                    containers.setdefault(c.service, []).append(c)
            console.print()
            console.print(Text(f"Stack {stack.name} on host {host} (project {stack.project}):", style="bold"))
            host_problems = stack_problems + problems.get(host_stack_address(host, stack.name), [])
            for message in host_problems:
                console.print(Text(f"  ! {message}", style="red"))
            table = Table("service", "containers", "status", box=box.SIMPLE, show_edge=False)
            names = [s.name for s in stack.services]
            names += sorted(set(containers) - set(names))
            for name in names:
                address = service_address(host, stack.name, name)
                action = by_address.get(address)
                if action is not None:
                    sym = symbol(action)
                    status = Text(f"{sym} {action.reason}", style=_STYLES.get(sym, ""))
                elif address in unchanged:
                    status = Text(f"in sync: {unchanged[address]}", style="green")
                else:
                    status = Text("not planned", style="red" if host_problems else "")
                table.add_row(name, _containers_summary(containers.get(name, [])), status)
            console.print(table)
    console.print()
    console.print(Text(summary(plan), style="bold red" if plan.problems else "bold"))
    return buffer.getvalue()
