"""The plan as Markdown for a pull-request comment: summary, problems, a table of actions,
collapsible diffs. Pure; every secret masked (values come only through :mod:`reconciler.core.diff`).

Its pieces (a heading, a problem line, an action row, a diff block, an unchanged row, each whole
and balanced) are public: :mod:`reconciler.render.comment` fits them under GitHub's size limit."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.actions import Action
from reconciler.core.diff import entries
from reconciler.core.plan import Plan, Problem, Unchanged
from reconciler.render.text import summary, symbol


def cell(value: str) -> str:
    """Text safe inside a Markdown table cell."""
    return (
        value.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def code(value: str) -> str:
    """An inline code span that survives backticks in ``value``."""
    longest = 0
    current = 0
    for char in value:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{cell(value)}{pad}{fence}"


def fenced(lines: Sequence[str], language: str) -> list[str]:
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


def unchanged_row(item: Unchanged) -> str:
    """One row of the unchanged table (under :data:`UNCHANGED_HEADER`)."""
    return f"| {code(item.address)} | {cell(item.reason)} |"


UNCHANGED_HEADER = ("| Address | Why |", "|---|---|")
ACTIONS_HEADER = ("| | Address | Action | Reason |", "|---|---|---|---|")


def heading(plan: Plan) -> list[str]:
    """The title and the summary line."""
    return [f"### Reconciler plan for `{cell(plan.environment)}`", "", f"**{summary(plan)}**", ""]


def problem_line(problem: Problem) -> str:
    return f"- :x: {code(problem.address)}: {cell(problem.message)}"


def action_row(action: Action) -> str:
    """One row of the actions table (under :data:`ACTIONS_HEADER`)."""
    verbs = "replace" if tuple(action.actions) == ("delete", "create") else next(iter(action.actions), "")
    verbs = verbs or action.kind.replace("_", " ")  # a rollout step changes no resource of its own
    return f"| `{cell(symbol(action))}` | {code(action.address)} | {verbs} | {cell(action.reason)} |"


def diff_block(action: Action) -> list[str]:
    """One action's diff: its address and reason, then a fenced ``diff`` block, then a blank line."""
    lines = [f"{code(action.address)} ({cell(action.reason)})", ""]
    return [*lines, *fenced(_diff_lines(action) or ["(no field changes)"], "diff"), ""]


def render_markdown(plan: Plan) -> str:
    """The plan for a pull-request comment: summary, problems, a table of
    actions and collapsible diffs; every secret masked."""
    lines = heading(plan)
    if plan.problems:
        lines += ["#### Problems", ""]
        lines += [problem_line(p) for p in plan.problems]
        lines.append("")
    if plan.actions:
        lines += ACTIONS_HEADER
        lines += [action_row(action) for action in plan.actions]
        lines += ["", "<details><summary>Diffs</summary>", ""]
        for action in plan.actions:
            lines += diff_block(action)
        lines += ["</details>", ""]
    if plan.unchanged:
        lines += [f"<details><summary>{len(plan.unchanged)} unchanged</summary>", ""]
        lines += [*UNCHANGED_HEADER, *(unchanged_row(u) for u in plan.unchanged)]
        lines += ["", "</details>", ""]
    return "\n".join(lines)
