"""The text renderers as they were, one rich ``Console.print`` per line: the reference the
fast renderers (reconciler.render.text, reconciler.render.apply) must equal without colour."""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from reconciler.core.diff import text
from reconciler.core.plan import Plan
from reconciler.core.report import ApplyReport
from reconciler.render.apply import gone_note, host_outcomes
from reconciler.render.text import STYLES, groups, summary, symbol

_STATUS_STYLES = {"done": "green", "failed": "bold red", "skipped": "yellow"}


def _console(buffer: io.StringIO, color: bool) -> Console:
    return Console(file=buffer, force_terminal=color, color_system="standard" if color else None,
                   no_color=not color, width=200, soft_wrap=True, highlight=False, emoji=False, markup=False)


def render_text(plan: Plan, color: bool = False, verbose: bool = False) -> str:
    buffer = io.StringIO()
    console = _console(buffer, color)
    console.print(Text(f"Plan for environment {plan.environment}", style="bold"))
    if plan.problems:
        console.print()
        console.print(Text(f"Problems ({len(plan.problems)}):", style="bold red"))
        for problem in plan.problems:
            console.print(Text(f"  ! {problem.address}: {problem.message}", style="red"))
    for heading, actions in groups(plan):
        console.print()
        console.print(Text(f"{heading}:", style="bold"))
        for action in actions:
            sym = symbol(action)
            line = Text("  ")
            line.append(f"{sym:>3} ", style=STYLES.get(sym, ""))
            line.append(action.address, style="bold")
            line.append(f"  # {action.reason}", style="dim")
            console.print(line)
            for diff_line in text(action.change):
                console.print(Text(f"        {diff_line}", style=STYLES.get(diff_line[:1], "")))
    console.print()
    if plan.unchanged:
        console.print(Text(f"{len(plan.unchanged)} unchanged.", style="dim"))
        if verbose:
            for item in plan.unchanged:
                console.print(Text(f"    = {item.address}  # {item.reason}", style="dim"))
            console.print()
    console.print(Text(summary(plan), style="bold red" if plan.problems else "bold"))
    return buffer.getvalue()


def render_report(report: ApplyReport, color: bool = False) -> str:
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
        console.print(Text(f"Apply complete: {done} action(s) done{gone_note(report)}.", style="bold green"))
    else:
        console.print(Text(f"Apply incomplete: {done} done, {failed} failed, {skipped} not done. "
                           "Fix the failure and apply again; completed actions are not repeated.",
                           style="bold red"))
    return buffer.getvalue()
