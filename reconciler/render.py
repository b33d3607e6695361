"""Plan output: text for terminals (rich), JSON for machines, Markdown for PR comments. Pure.

All three formats take secret values only through :mod:`reconciler.diff`,
which masks every :class:`Sensitive` as ``(sensitive)``; nothing here calls
``Sensitive.reveal()``. Functions return strings; printing is the caller's.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.address import (
    host_of,
    host_stack_address,
    image_address,
    parameter_address,
    service_address,
    stack_address,
)
from reconciler.diff import entries, text
from reconciler.events import (
    ActionFinished,
    ActionStarted,
    Event,
    HostObserved,
    LeftoverRemoved,
    PlanReady,
    PlanStale,
    PlanStarted,
    UnitFinished,
    UnitStarted,
    WaitProgress,
)
from reconciler.model import DesiredState, ObservedContainer, ObservedState, is_oneoff
from reconciler.plan import PARAMETERS_UNIT, PRUNE_UNIT, Action, DeleteParameter, Plan, PutParameter, Unchanged
from reconciler.plan_json import counts, render_json
from reconciler.report import ApplyReport

SYMBOLS = {("create",): "+", ("update",): "~", ("delete", "create"): "-/+", ("delete",): "-"}
_STYLES = {"+": "green", "~": "yellow", "-/+": "magenta", "-": "red"}


def symbol(action: Action) -> str:
    return SYMBOLS.get(tuple(action.actions), "?")


def summary(plan: Plan) -> str:
    if not plan.actions and not plan.problems:
        return "No changes. The world matches the spec."
    c = counts(plan)
    line = (
        f"Plan: {c['add']} to add, {c['change']} to change, "
        f"{c['replace']} to replace, {c['destroy']} to destroy."
    )
    if plan.problems:
        line += f" {len(plan.problems)} problem(s) must be fixed."
    return line


def _groups(plan: Plan) -> list[tuple[str, list[Action]]]:
    """Actions as (heading, actions): one group per unit, in execution order."""
    groups: list[tuple[str, list[Action]]] = []
    for unit in plan.units:
        if unit.id == PARAMETERS_UNIT:
            heading = "Parameters"
        elif unit.id == PRUNE_UNIT:
            heading = "Prune (after everything else succeeded)"
        elif unit.compose is not None or unit.stack is not None:
            project = f" (project {unit.compose.project})" if unit.compose is not None else ""
            heading = f"Stack {unit.stack} on host {unit.host}{project}"
        else:  # pragma: no cover - every unit kind is named above
            heading = unit.id
        groups.append((heading, list(unit.actions)))
    return groups


def render_plan(plan: Plan, fmt: str, *, color: bool = False, verbose: bool = False) -> str:
    """The plan in ``fmt``: text, json or markdown."""
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color, verbose=verbose)


# --------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------


def _console(buffer: io.StringIO, color: bool) -> Console:
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


def render_text(plan: Plan, color: bool = False, verbose: bool = False) -> str:
    """The plan for a terminal: problems first, then grouped actions with
    their reasons and diffs, the unchanged count (listed when ``verbose``)
    and the summary line. ``color`` adds ANSI styles."""
    buffer = io.StringIO()
    console = _console(buffer, color)
    console.print(Text(f"Plan for environment {plan.environment}", style="bold"))
    if plan.problems:
        console.print()
        console.print(Text(f"Problems ({len(plan.problems)}):", style="bold red"))
        for problem in plan.problems:
            console.print(Text(f"  ! {problem.address}: {problem.message}", style="red"))
    for heading, actions in _groups(plan):
        console.print()
        console.print(Text(f"{heading}:", style="bold"))
        for action in actions:
            sym = symbol(action)
            line = Text("  ")
            line.append(f"{sym:>3} ", style=_STYLES.get(sym, ""))
            line.append(action.address, style="bold")
            line.append(f"  # {action.reason}", style="dim")
            console.print(line)
            for diff_line in text(action.change):
                console.print(Text(f"        {diff_line}", style=_STYLES.get(diff_line[:1], "")))
    console.print()
    if plan.unchanged:
        console.print(Text(f"{len(plan.unchanged)} unchanged.", style="dim"))
        if verbose:
            for item in plan.unchanged:
                console.print(Text(f"    = {item.address}  # {item.reason}", style="dim"))
            console.print()
    console.print(Text(summary(plan), style="bold red" if plan.problems else "bold"))
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def _cell(value: str) -> str:
    """Text safe inside a Markdown table cell."""
    return (
        value.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _code(value: str) -> str:
    """An inline code span that survives backticks in ``value``."""
    longest = 0
    current = 0
    for char in value:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{_cell(value)}{pad}{fence}"


def _fenced(lines: Sequence[str], language: str) -> list[str]:
    longest = 0
    for line in lines:
        current = 0
        for char in line:
            current = current + 1 if char == "`" else 0
            longest = max(longest, current)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *lines, fence]


def _diff_lines(action: Action) -> list[str]:
    """Diff lines in unified-diff style so GitHub colours them (``~`` as ``-``/``+``)."""
    out: list[str] = []
    for entry in entries(action.change):
        if entry.op in ("-", "~"):
            out.append(f"- {entry.key}: {entry.old}")
        if entry.op in ("+", "~"):
            out.append(f"+ {entry.key}: {entry.new}")
    return out


def _unchanged_table(items: Iterable[Unchanged]) -> list[str]:
    rows = ["| Address | Why |", "|---|---|"]
    rows += [f"| {_code(u.address)} | {_cell(u.reason)} |" for u in items]
    return rows


def render_markdown(plan: Plan) -> str:
    """The plan for a pull-request comment: summary, problems, a table of
    actions and collapsible diffs; every secret masked."""
    lines = [f"### Reconciler plan for `{_cell(plan.environment)}`", "", f"**{summary(plan)}**", ""]
    if plan.problems:
        lines += ["#### Problems", ""]
        lines += [f"- :x: {_code(p.address)}: {_cell(p.message)}" for p in plan.problems]
        lines.append("")
    if plan.actions:
        lines += ["| | Address | Action | Reason |", "|---|---|---|---|"]
        for action in plan.actions:
            verbs = "replace" if tuple(action.actions) == ("delete", "create") else action.actions[0]
            sym = _cell(symbol(action))
            lines.append(f"| `{sym}` | {_code(action.address)} | {verbs} | {_cell(action.reason)} |")
        lines += ["", "<details><summary>Diffs</summary>", ""]
        for action in plan.actions:
            lines.append(f"{_code(action.address)} ({_cell(action.reason)})")
            lines.append("")
            lines += _fenced(_diff_lines(action) or ["(no field changes)"], "diff")
            lines.append("")
        lines += ["</details>", ""]
    if plan.unchanged:
        lines += [f"<details><summary>{len(plan.unchanged)} unchanged</summary>", ""]
        lines += _unchanged_table(plan.unchanged)
        lines += ["", "</details>", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# apply report
# --------------------------------------------------------------------------

_STATUS_STYLES = {"done": "green", "failed": "bold red", "skipped": "yellow"}


def host_outcomes(report: ApplyReport) -> dict[str, dict[str, list[str]]]:
    """stack -> {"done" | "failed" | "not done": [hosts, in rollout order]} from the results'
    host-scoped addresses. A host is failed when one of its actions failed, not done when
    none failed but one was skipped."""
    per: dict[str, dict[str, list[str]]] = {}
    for result in report.results:
        host = host_of(result.address)
        if host is None:
            continue
        stack = result.address.partition(":")[2].split("/")[1]
        per.setdefault(stack, {}).setdefault(host, []).append(result.status)
    out: dict[str, dict[str, list[str]]] = {}
    for stack, hosts in per.items():
        for host, statuses in hosts.items():
            status = "failed" if "failed" in statuses else "not done" if "skipped" in statuses else "done"
            out.setdefault(stack, {}).setdefault(status, []).append(host)
    return out


def render_report(report: ApplyReport, color: bool = False) -> str:
    """What an apply did, action by action, and a closing line: done / failed / not done."""
    buffer = io.StringIO()
    console = _console(buffer, color)
    console.print(Text("Apply:", style="bold"))
    if not report.results:
        console.print(Text("  nothing to do"))
    for result in report.results:
        line = Text("  ")
        line.append(f"{result.status:<7}", style=_STATUS_STYLES.get(result.status, ""))
        line.append(f" {result.address}", style="bold")
        if result.message:
            line.append(f"  # {result.message}", style="dim" if result.status == "done" else "")
        console.print(line)
    done, failed, skipped = (len(report.by_status(s)) for s in ("done", "failed", "skipped"))
    rollout = host_outcomes(report)
    if not report.ok and rollout:
        console.print()
        console.print(Text("Hosts:", style="bold"))
        for stack, outcomes in rollout.items():
            parts = [f"{status} on {', '.join(hosts)}" for status, hosts in outcomes.items()]
            console.print(Text(f"  stack {stack}: " + "; ".join(parts)))
    console.print()
    if report.ok:
        console.print(Text(f"Apply complete: {done} action(s) done.", style="bold green"))
    else:
        console.print(
            Text(
                f"Apply incomplete: {done} done, {failed} failed, {skipped} not done. "
                "Fix the failure and apply again; completed actions are not repeated.",
                style="bold red",
            )
        )
    return buffer.getvalue()


# --------------------------------------------------------------------------
# events (the terminal subscriber)
# --------------------------------------------------------------------------


def event_line(event: Event) -> str | None:
    """One line for the terminal (stderr), or None for events it does not show."""
    if isinstance(event, HostObserved):
        return f"host {event.host}: cannot be read: {event.error}" if event.error else None
    if isinstance(event, PlanStale):
        return "The plan is stale:\n" + "\n".join(f"  {r}" for r in event.resources)
    if isinstance(event, UnitStarted):
        if event.host is None:
            return None
        return f"stack {event.stack} on host {event.host}: applying {event.actions} action(s)"
    if isinstance(event, UnitFinished):
        if event.host is None or event.status == "done":
            return None
        return f"stack {event.stack} on host {event.host}: {event.status}" + (
            f" ({event.message})" if event.message else ""
        )
    if isinstance(event, ActionStarted):
        return f"{event.address}: {event.doing}"
    if isinstance(event, ActionFinished):
        return f"{event.address}: {event.status}" + (f" ({event.message})" if event.message else "")
    if isinstance(event, WaitProgress):
        return f"{event.address}: waiting until {event.condition} (up to {event.timeout:g}s)"
    if isinstance(event, LeftoverRemoved):
        return f"removed {event.what} an earlier interrupted run left: {event.path}"
    if isinstance(event, PlanStarted | PlanReady):
        return None
    return None  # pragma: no cover - every event type is handled above
