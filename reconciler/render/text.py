"""The plan as text for a terminal: problems, grouped actions with reasons and diffs, summary. Pure.

Built as one string (:class:`~reconciler.render.style.Lines`); ANSI styles only
when ``color``. Secret values come only through :mod:`reconciler.core.diff`, which
masks them.
"""

from __future__ import annotations

from reconciler.core.actions import Action
from reconciler.core.diff import text
from reconciler.core.plan import PARAMETERS_UNIT, PRUNE_UNIT, ROLLOUT_PREFIX, Plan
from reconciler.core.rollout_actions import RolloutStep
from reconciler.render.json import counts
from reconciler.render.rotation import rotation_heading
from reconciler.render.style import Lines

SYMBOLS = {("create",): "+", ("update",): "~", ("delete", "create"): "-/+", ("delete",): "-"}
STYLES = {"+": "green", "~": "yellow", "-/+": "magenta", "-": "red", "<": "cyan", ">": "cyan", "?": "cyan", "!": "cyan"}


def symbol(action: Action) -> str:
    if isinstance(action, RolloutStep) and not action.actions:
        return action.symbol
    return SYMBOLS.get(tuple(action.actions), "?")


def rollout_heading(unit_id: str) -> str:
    """``rollout:web/1/leave`` -> ``Rollout of fleet web, batch 1: leave the load balancer``."""
    fleet, _, step = unit_id.removeprefix(ROLLOUT_PREFIX).partition("/")
    rotation = rotation_heading(fleet, step)
    if rotation is not None:
        return rotation
    number, _, part = step.partition("/")
    if part:
        what = "leave the load balancer" if part == "leave" else "health gate, re-join, alarms"
        return f"Rollout of fleet {fleet}, batch {number}: {what}"
    if step == "restore":
        return f"Fleet {fleet}: instances put back in service"
    if step == "replace":
        return f"Fleet {fleet}: an instance that cannot be reconciled, replaced by its group"
    if step == "refresh":
        return f"Fleet {fleet}: instance refresh (AWS replaces the instances, each converged before it serves)"
    return f"Rollout of fleet {fleet}: bake"


def summary(plan: Plan) -> str:
    if not plan.actions and not plan.problems:
        return "No changes. The world matches the spec."
    c = counts(plan)
    line = f"Plan: {c['add']} to add, {c['change']} to change, {c['replace']} to replace, {c['destroy']} to destroy."
    if plan.problems:
        line += f" {len(plan.problems)} problem(s) must be fixed."
    return line


def groups(plan: Plan) -> list[tuple[str, list[Action]]]:
    """Actions as (heading, actions): one group per unit, in execution order."""
    out: list[tuple[str, list[Action]]] = []
    for unit in plan.units:
        if unit.id == PARAMETERS_UNIT:
            heading = "Parameters"
        elif unit.id == PRUNE_UNIT:
            heading = "Prune (after everything else succeeded)"
        elif unit.id.startswith(ROLLOUT_PREFIX):
            heading = rollout_heading(unit.id)
        elif unit.compose is not None or unit.stack is not None:
            project = f" (project {unit.compose.project})" if unit.compose is not None else ""
            heading = f"Stack {unit.stack} on host {unit.host}{project}"
        else:  # pragma: no cover - every unit kind is named above
            heading = unit.id
        out.append((heading, list(unit.actions)))
    return out


def render_text(plan: Plan, color: bool = False, verbose: bool = False) -> str:
    """The plan for a terminal: problems first, then grouped actions with
    their reasons and diffs, the unchanged count (listed when ``verbose``)
    and the summary line. ``color`` adds ANSI styles."""
    out = Lines(color)
    out.add(f"Plan for environment {plan.environment}", "bold")
    if plan.problems:
        out.add()
        out.add(f"Problems ({len(plan.problems)}):", "bold red")
        for problem in plan.problems:
            out.add(f"  ! {problem.address}: {problem.message}", "red")
    for heading, actions in groups(plan):
        out.add()
        out.add(f"{heading}:", "bold")
        for action in actions:
            sym = symbol(action)
            out.parts(
                ("  ", ""),
                (f"{sym:>3} ", STYLES.get(sym, "")),
                (action.address, "bold"),
                (f"  # {action.reason}", "dim"),
            )
            for diff_line in text(action.change):
                out.add(f"        {diff_line}", STYLES.get(diff_line[:1], ""))
    out.add()
    if plan.unchanged:
        out.add(f"{len(plan.unchanged)} unchanged.", "dim")
        if verbose:
            for item in plan.unchanged:
                out.add(f"    = {item.address}  # {item.reason}", "dim")
            out.add()
    out.add(summary(plan), "bold red" if plan.problems else "bold")
    return str(out)
