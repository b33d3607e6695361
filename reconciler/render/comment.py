"""A plan as a pull-request comment: the Markdown plan under a hidden marker, fitted under
GitHub's size limit. Pure; every secret masked (the pieces come from :mod:`.markdown`).

One comment per pull request and environment: the body starts with :func:`marker` (an HTML
comment naming the environment's folder in the repository), which finds it again on the next
push so it is edited in place. The body depends only on the plan, the folder, the head commit and
where the whole plan is (no timestamp): the same plan at the same commit is the same body, and no
call is made.

Fitting: GitHub refuses a body over 65,536 characters (:data:`LIMIT`, counted here in UTF-16 code
units, which is never fewer than characters). The body is assembled piece by piece with a budget:
the heading, the summary and the head commit always; then the problems (at most half of what is
left), the first rows of the actions table, their diffs and the unchanged resources, each piece
whole or not at all. Every opened ``<details>`` has its closing tag reserved before its first row,
and every code fence is one piece (:func:`~reconciler.render.markdown.diff_block`), so a cut never
leaves a fence or a ``<details>`` open. When something is left out, a last line says how much and
where the whole plan is (the workflow's artifact). A table of more than :data:`COLLAPSE_ROWS`
actions is collapsed in ``<details>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from reconciler.core.actions import Action
from reconciler.core.plan import Plan
from reconciler.render.markdown import (
    ACTIONS_HEADER,
    UNCHANGED_HEADER,
    action_row,
    cell,
    code,
    diff_block,
    fenced,
    heading,
    problem_line,
    unchanged_row,
)

__all__ = [
    "COLLAPSE_ROWS",
    "LIMIT",
    "CommentContext",
    "failure_comment",
    "head_lines",
    "marker",
    "marker_key",
    "plan_comment",
    "size",
    "unchanged_comment",
]

#: GitHub's largest issue or pull-request comment body, in characters
LIMIT = 65_536
#: an actions table longer than this is collapsed in ``<details>``
COLLAPSE_ROWS = 20
_MARKER = "<!-- reconciler:plan {} -->"
_TITLE = "### Reconciler plan for "
_NOTE_RESERVE = 600  # room kept for the last line saying what was left out (numbers and the artifact)
_ARTIFACT_MAX = 300
_SHOWN_MAX = 100  # of a head commit or a folder as shown (a sha is 40; a flag could give anything)


@dataclass(frozen=True)
class CommentContext:
    """What a comment says besides the plan: ``key`` the environment's folder in the repository
    (``environments/dev``, also the marker), the pull request's head commit, and where the
    whole plan is (a workflow artifact's URL or name)."""

    key: str
    head_sha: str | None = None
    artifact: str | None = None


def marker(key: str) -> str:
    """The hidden first line of the comment of ``key`` (``>`` and spaces percent-encoded: it cannot
    end the HTML comment early)."""
    return _MARKER.format(quote(key, safe="/._-~@+,:="))


def marker_key(body: str) -> str | None:
    """The folder a comment body's marker names, when the body is one of ours (its marker, then a
    ``### Reconciler plan for`` title); None for any other comment (one that merely quotes a marker)."""
    first, _, rest = body.replace("\r\n", "\n").partition("\n")
    prefix, suffix = _MARKER.split("{}")
    if not (first.startswith(prefix) and first.endswith(suffix) and rest.startswith(_TITLE)):
        return None
    key = unquote(first[len(prefix) : len(first) - len(suffix)])
    return key if key and marker(key) == first else None


def size(text: str) -> int:
    """``text``'s length in UTF-16 code units (a character outside the BMP counts twice)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


class _Budget:
    """Lines kept while they fit; closers reserved ahead."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.left = limit

    def fits(self, *lines: str) -> bool:
        return sum(size(line) + 1 for line in lines) <= self.left

    def add(self, *lines: str) -> bool:
        cost = sum(size(line) + 1 for line in lines)
        if cost > self.left:
            return False
        self.lines.extend(lines)
        self.left -= cost
        return True

    def reserve(self, *lines: str) -> None:
        self.left -= sum(size(line) + 1 for line in lines)

    def release(self, *lines: str) -> None:
        self.left += sum(size(line) + 1 for line in lines)


def _open(budget: _Budget, opener: Sequence[str], closer: Sequence[str], first: Sequence[str]) -> bool:
    """Open a section (its closer reserved) when it fits with its first piece."""
    if not budget.fits(*opener, *closer, *first):
        return False
    budget.add(*opener)
    budget.reserve(*closer)
    return True


def _close(budget: _Budget, closer: Sequence[str]) -> None:
    budget.release(*closer)
    budget.add(*closer)


def _pieces(budget: _Budget, pieces: Iterable[Sequence[str]]) -> int:
    """Add whole pieces while they fit; how many were added (the first that does not fit ends it)."""
    added = 0
    for piece in pieces:
        if not budget.add(*piece):
            break
        added += 1
    return added


def head_lines(title: str, ctx: CommentContext, status: Sequence[str], summary: Sequence[str] = ()) -> list[str]:
    """The first lines of every comment: the marker, the title, the status lines, the head commit
    and folder, the summary."""
    folder = code(ctx.key[:_SHOWN_MAX])
    where = f"Head commit: {cell(ctx.head_sha[:_SHOWN_MAX])} · folder {folder}" if ctx.head_sha else f"Folder {folder}"
    return [marker(ctx.key), title, "", *status, where, "", *summary]


def _note(ctx: CommentContext, hidden: Sequence[tuple[int, int, str]]) -> str:
    parts = [f"{shown:,} of {total:,} {what}" for shown, total, what in hidden if shown < total]
    where = cell(ctx.artifact)[:_ARTIFACT_MAX] if ctx.artifact else "the JSON plan of this workflow run"
    return f":warning: **Too long for one comment**: {'; '.join(parts)} shown. The whole plan: {where}."


def _changes(budget: _Budget, actions: Sequence[Action]) -> int:
    """The first actions that fit with their diffs: their rows (collapsed when many), then their
    diffs; how many."""
    collapse = len(actions) > COLLAPSE_ROWS
    table_open = [f"<details><summary>{len(actions):,} change(s)</summary>", ""] if collapse else []
    table = [*table_open, *ACTIONS_HEADER]
    table_close = ["", "</details>", ""] if collapse else [""]
    diffs, diffs_close = ["<details><summary>Diffs</summary>", ""], ["</details>", ""]
    left = budget.left - sum(size(line) + 1 for line in (*table, *table_close, *diffs, *diffs_close))
    rows: list[str] = []
    blocks: list[str] = []
    for action in actions:
        row, block = action_row(action), diff_block(action)
        cost = size(row) + 1 + sum(size(line) + 1 for line in block)
        if cost > left:
            break
        left -= cost
        rows.append(row)
        blocks.extend(block)
    if rows:
        budget.add(*table, *rows, *table_close, *diffs, *blocks, *diffs_close)
    return len(rows)


def plan_comment(plan: Plan, ctx: CommentContext, limit: int = LIMIT) -> str:
    """The comment body of ``plan``: at most ``limit`` UTF-16 code units, every fence and
    ``<details>`` closed."""
    problems = len(plan.problems)
    status = [f":x: **{problems} problem(s) block part of this plan** (listed below).", ""] if problems else []
    budget = _Budget(limit - _NOTE_RESERVE)
    title, _, summary, _ = heading(plan)
    budget.add(*head_lines(title, ctx, status, [summary, ""]))

    shown_problems = 0
    if plan.problems:
        half = _Budget(budget.left // 2)
        half.add("#### Problems", "")
        shown_problems = _pieces(half, ([problem_line(p)] for p in plan.problems))
        budget.add(*half.lines, "")

    actions = plan.actions
    changes_shown = _changes(budget, actions) if actions else 0

    shown_unchanged = 0
    if plan.unchanged:
        opener = [f"<details><summary>{len(plan.unchanged):,} unchanged</summary>", "", *UNCHANGED_HEADER]
        closer = ["", "</details>", ""]
        if _open(budget, opener, closer, [unchanged_row(plan.unchanged[0])]):
            shown_unchanged = _pieces(budget, ([unchanged_row(u)] for u in plan.unchanged))
            _close(budget, closer)

    hidden = [
        (shown_problems, problems, "problems"),
        (changes_shown, len(actions), "changes"),
        (shown_unchanged, len(plan.unchanged), "unchanged"),
    ]
    lines = budget.lines
    if any(shown < total for shown, total, _ in hidden):
        lines = [*lines, _note(ctx, hidden)]
    return "\n".join(lines).rstrip("\n") + "\n"


def failure_comment(ctx: CommentContext, message: str, limit: int = LIMIT) -> str:
    """The comment of an environment that could not be planned (its specs are invalid, AWS or a
    Docker host could not be reached): the error, first lines first, within ``limit``."""
    budget = _Budget(limit - _NOTE_RESERVE)
    budget.add(*head_lines(f"{_TITLE}{code(ctx.key)}", ctx, []))
    budget.add(":x: **The plan could not be made:**", "")
    lines = message.splitlines() or [""]
    kept = len(lines)
    while kept and not budget.fits(*fenced(lines[:kept], "text")):
        kept //= 2
    budget.add(*fenced(lines[:kept], "text"))
    if kept < len(lines):
        budget.add("", f"({len(lines) - kept:,} more line(s) of the error are in the workflow's log.)")
    return "\n".join(budget.lines) + "\n"


def unchanged_comment(ctx: CommentContext) -> str:
    """What the comment of an environment says once the pull request no longer changes it (a later
    push undid the change): its earlier plan would mislead."""
    lines = head_lines(f"{_TITLE}{code(ctx.key)}", ctx, [])
    return "\n".join([*lines, "This pull request no longer changes this environment: nothing to plan."]) + "\n"
