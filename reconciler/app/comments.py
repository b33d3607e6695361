"""``reconciler comment``: the plan of each environment a pull request touches, as one comment
per pull request and environment, edited in place on the next push. Wiring; does I/O.

1. :func:`plan_comments` plans each environment read-only (as ``plan`` does) and renders its
   comment (:mod:`reconciler.render.comment`); an environment that cannot be planned gets a
   comment saying why. Each whole plan is handed to ``show`` at once (printed before GitHub is
   called, so it is there whatever GitHub answers) and, with ``out``, written as
   ``<folder>.json`` and ``<folder>.md`` (the workflow's artifact).
2. :func:`post_comments` lists the pull request's comments once (every page), then for each
   environment edits its comment (the last one starting with its marker) when the body
   differs, creates one when there is none, and makes no call when the body is the same. The
   comment of an environment the pull request no longer changes (``unchanged``: a later push
   undid the change) is edited to say so; none is created for it. So is the comment of a folder
   neither planned nor unchanged whose folder ``gone`` says is gone at the head commit (the pull
   request deletes or renames it: :mod:`reconciler.render.comment_removed`); its marker is read
   from the comments already listed, so this costs no GitHub call of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from reconciler.app.changed import EnvironmentFolder
from reconciler.app.clients import github_comments
from reconciler.app.environment import open_environment
from reconciler.app.pullrequest import PullRequestRef
from reconciler.app.settings import Overrides
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import EventSink, discard
from reconciler.core.plan import Plan
from reconciler.render.comment import (
    CommentContext,
    failure_comment,
    marker,
    marker_key,
    plan_comment,
    unchanged_comment,
)
from reconciler.render.comment_removed import Removed, removed_comment

__all__ = ["EnvironmentComment", "Posted", "Verb", "plan_comments", "post_comments"]


@dataclass(frozen=True)
class EnvironmentComment:
    key: str  # the environment's folder in the repository (the marker)
    body: str  # the comment
    plan: Plan | None  # None: it could not be planned (``error`` says why)
    error: str | None = None


class Verb(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    RETIRED = "retired"  # edited to say the pull request no longer changes the environment
    REMOVED = "removed"  # edited to say the pull request removes the environment's folder


@dataclass(frozen=True)
class Posted:
    key: str
    verb: Verb
    comment_id: int


def _artifact_name(key: str) -> str:
    return key.strip("/").replace("/", "-") or "root"


def plan_comments(
    folders: Sequence[EnvironmentFolder],
    overrides: Overrides,
    pr: PullRequestRef | None,
    *,
    show: Callable[[str, str], None],
    out: Path | None = None,
    on_event: EventSink = discard,
) -> list[EnvironmentComment]:
    """Plan each folder read-only; ``show(key, markdown)`` gets each whole plan (or error) at once."""
    from reconciler import render

    results = []
    for folder in folders:
        ctx = CommentContext(folder.key, pr.head_sha if pr else None, pr.artifact if pr else None)
        try:
            env = open_environment(folder.env_dir, overrides, read_only=True, on_event=on_event)
            try:
                plan = env.plan().plan
            finally:
                env.close()
        except ReconcilerError as exc:
            show(folder.key, f"{folder.key}: the plan could not be made:\n{exc}")
            results.append(EnvironmentComment(folder.key, failure_comment(ctx, str(exc)), None, str(exc)))
            continue
        markdown = render.render_markdown(plan)
        show(folder.key, markdown)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            name = _artifact_name(folder.key)
            (out / f"{name}.json").write_text(render.render_json(plan, pretty=True) + "\n", encoding="utf-8")
            (out / f"{name}.md").write_text(markdown, encoding="utf-8")
        results.append(EnvironmentComment(folder.key, plan_comment(plan, ctx), plan))
    return results


def post_comments(
    pr: PullRequestRef,
    token: str,
    comments: Sequence[EnvironmentComment],
    unchanged: Sequence[str] = (),
    gone: Callable[[str], Removed | None] | None = None,
) -> list[Posted]:
    """Create or edit each environment's comment on ``pr``, and retire those of the ``unchanged``
    folders and of the folders ``gone`` says are gone; no call for a body already there. Raises a
    WorldError (401, 403, 404, 422, 5xx, rate limit ...) with a clear message."""
    from reconciler.drivers.github import GitHubTarget

    edits = {key: (unchanged_comment(CommentContext(key, pr.head_sha)), Verb.RETIRED) for key in unchanged}
    posted = []
    with github_comments(GitHubTarget(pr.api_url, pr.repository, pr.number), token) as api:
        existing = api.existing()
        known = {c.key for c in comments} | set(unchanged)
        named = dict.fromkeys(k for c in existing if (k := marker_key(c.body)) is not None and k not in known)
        for key in named:
            removed = gone(key) if gone is not None else None
            if removed is not None:
                edits[key] = (removed_comment(CommentContext(key, pr.head_sha), removed), Verb.REMOVED)
        retired = [(EnvironmentComment(key, body, None), verb) for key, (body, verb) in edits.items()]
        for comment, verb in [*((c, Verb.UPDATED) for c in comments), *retired]:
            head = marker(comment.key) + "\n"
            mine = [c for c in existing if _normal(c.body).startswith(head)]
            if mine and _normal(mine[-1].body) == _normal(comment.body):
                posted.append(Posted(comment.key, Verb.UNCHANGED, mine[-1].id))
            elif mine:
                posted.append(Posted(comment.key, verb, api.update(mine[-1].id, comment.body).id))
            elif verb is Verb.UPDATED:
                posted.append(Posted(comment.key, Verb.CREATED, api.create(comment.body).id))
    return posted


def _normal(body: str) -> str:
    """A body as compared: line ends and trailing blanks as GitHub may store them."""
    return body.replace("\r\n", "\n").rstrip() + "\n"
