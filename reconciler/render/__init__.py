"""Plan output: text for terminals, JSON for machines, Markdown for PR comments; status, apply
reports and event lines. Pure.

Every format takes secret values only through :mod:`reconciler.core.diff`, which
masks every :class:`Sensitive` as ``(sensitive)``; nothing here calls
``Sensitive.reveal()``. Functions return strings; printing is the caller's.
Text is built as one string, with ANSI styles only when asked (a terminal);
rich is imported only to draw the tables of ``status``.
"""

from __future__ import annotations

from reconciler.core.plan import Plan
from reconciler.render.apply import host_outcomes, render_report
from reconciler.render.events import event_line
from reconciler.render.json import counts, render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.overview import render_status
from reconciler.render.text import SYMBOLS, render_text, summary, symbol

__all__ = [
    "SYMBOLS",
    "counts",
    "event_line",
    "host_outcomes",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_report",
    "render_status",
    "render_text",
    "summary",
    "symbol",
]


def render_plan(
    plan: Plan, fmt: str, *, color: bool = False, verbose: bool = False, pretty_json: bool = True
) -> str:
    """The plan in ``fmt``: text, json (indented when ``pretty_json``, else compact) or markdown."""
    if fmt == "json":
        return render_json(plan, pretty=pretty_json)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color, verbose=verbose)
