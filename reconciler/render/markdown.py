"""The plan as Markdown for a pull-request comment: summary, problems, a table of actions,
collapsible diffs. Pure; every secret masked (values come only through :mod:`reconciler.core.diff`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.core.actions import Action
from reconciler.core.diff import entries
from reconciler.core.plan import Plan, Unchanged
from reconciler.render.text import summary, symbol


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
            verbs = "replace" if tuple(action.actions) == ("delete", "create") else next(iter(action.actions), "")
            verbs = verbs or action.kind.replace("_", " ")  # a rollout step changes no resource of its own
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
