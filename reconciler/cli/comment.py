"""``reconciler comment``: the changed environments planned, the plans printed, the comments
posted; the outcome as an exit code. The work is :mod:`reconciler.app.comments`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.cli.arguments import overrides
from reconciler.cli.output import Err, write
from reconciler.core.exitcodes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from reconciler.core.events import Event

__all__ = ["comment"]

_SHOWN_FILES = 3


def comment(args: argparse.Namespace, err: Err, on_event: Callable[[Event], None]) -> int:
    from reconciler.app import changed, comments, pullrequest
    from reconciler.core.errors import ReconcilerError

    unchanged: list[str] = []
    if args.changed_since:
        dirs, removed = changed.removed_folders(args.env_dirs, args.changed_since)
        for key in removed:
            err.say(f"{key}: removed since {args.changed_since}: nothing to plan (its comment, if any, says so)")
        folders = changed.changed_environments(dirs, args.changed_since) if dirs else []
        for f in folders:
            files = ", ".join(f.changed[:_SHOWN_FILES]) + (f" (+{len(f.changed) - _SHOWN_FILES} more)"
                                                           if len(f.changed) > _SHOWN_FILES else "")  # fmt: skip
            err.say(f"{f.key}: changed ({files})" if f.changed else f"{f.key}: unchanged since {args.changed_since}")
        unchanged = [f.key for f in folders if not f.changed]
        folders = [f for f in folders if f.changed]
        if not folders:
            err.say(f"No environment changed since {args.changed_since}: nothing to plan.")
            if args.dry_run:
                return EXIT_OK
    else:
        _top, folders = changed.environment_folders(args.env_dirs)

    token = ""
    if args.dry_run:
        pr = pullrequest.PullRequestRef("", "", 0, args.head_sha, args.artifact_url)
    else:
        flags = pullrequest.PullRequestFlags(repository=args.repository, number=args.pull_request,
                                             head_sha=args.head_sha, api_url=args.github_api_url,
                                             artifact=args.artifact_url)  # fmt: skip
        pr = pullrequest.pull_request(flags, os.environ)
        token = pullrequest.token(args.token_env, os.environ)
    if pr.head_sha is None:
        pr = replace(pr, head_sha=changed.head_sha(args.env_dirs[0]))

    def show(_key: str, markdown: str) -> None:
        if not args.dry_run:
            write(markdown)

    results = comments.plan_comments(folders, overrides(args), pr, show=show, out=args.out, on_event=on_event)
    failed = any(r.plan is None or r.plan.problems for r in results)
    if args.dry_run:
        for r in results:
            write(r.body)
    else:
        try:
            gone = changed.removals(args.env_dirs, args.changed_since)
            for posted in comments.post_comments(pr, token, results, unchanged, gone):
                what = {
                    comments.Verb.UNCHANGED: "no call: the same body is there",
                    comments.Verb.RETIRED: "edited: the pull request no longer changes this environment",
                    comments.Verb.REMOVED: "edited: the folder is gone at the head commit (nothing to plan)",
                }.get(posted.verb, posted.verb.value)
                err.say(f"{posted.key}: comment {posted.comment_id} {what}")
        except ReconcilerError as exc:
            err.error(f"the plan(s) above were not posted: {exc}")
            return EXIT_ERROR
    if failed:
        return EXIT_ERROR
    if args.detailed_exitcode and any(r.plan is not None and r.plan.has_changes for r in results):
        return EXIT_CHANGES
    return EXIT_OK
