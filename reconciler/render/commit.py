"""A plan as the body of a deploy commit (``reconciler promote``): the summary and its first changes. Pure.

Plain text wrapped for ``git log`` (no colour, no Markdown): the summary line, one line per
action (symbol, address, reason) up to :data:`MAX_LINES`, then the problems. Secrets never
appear: an action's reason names resources, never values.
"""

from __future__ import annotations

from reconciler.core.plan import Plan
from reconciler.render.text import summary, symbol

MAX_LINES = 20
MAX_REASON = 100


def plan_body(plan: Plan, environment: str) -> str:
    """``Plan of <environment> after this commit (read-only): ...`` and its first changes."""
    lines = [f"Plan of {environment} after this commit (read-only): {summary(plan)}"]
    actions = plan.actions
    for action in actions[:MAX_LINES]:
        reason = action.reason if len(action.reason) <= MAX_REASON else action.reason[: MAX_REASON - 3] + "..."
        lines.append(f"  {symbol(action)} {action.address}: {reason}")
    if len(actions) > MAX_LINES:
        lines.append(f"  ... and {len(actions) - MAX_LINES} more")
    lines.extend(f"  ! {problem.address}: {problem.message}" for problem in plan.problems[:MAX_LINES])
    return "\n".join(lines) + "\n"
