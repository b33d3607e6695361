"""The comments of one pull request: list them all, create one, edit one. Does I/O (HTTP).

A pull request's conversation comments are issue comments in GitHub's REST API
(``GET/POST /repos/{owner}/{repo}/issues/{number}/comments``, ``PATCH
/repos/{owner}/{repo}/issues/comments/{id}``). Listing reads every page (100 a page, following
the ``Link`` header). Every GitHub error is translated (:func:`.client.translate`). ``calls``
counts the requests made (retries aside). Used as a context manager, one connection serves them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from githubkit import GitHub
from githubkit.exception import GitHubException

from reconciler.drivers.github.client import GitHubTarget, translate

__all__ = ["Comment", "PullRequestComments"]

PER_PAGE = 100


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


class PullRequestComments:
    """The comments of ``target``'s pull request through ``github``."""

    def __init__(self, github: GitHub[Any], target: GitHubTarget) -> None:
        self.github = github
        self.target = target
        self.calls = 0

    def __enter__(self) -> PullRequestComments:
        """One HTTP connection (and TLS context) for every call until the block ends."""
        self.github.__enter__()  # type: ignore[no-untyped-call]  # githubkit leaves it unannotated
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.github.__exit__(kind, exc, trace)

    def existing(self) -> list[Comment]:
        found: list[Comment] = []
        page = 1
        while True:
            self.calls += 1
            try:
                resp = self.github.rest.issues.list_comments(
                    self.target.owner, self.target.name, self.target.number, per_page=PER_PAGE, page=page
                )
            except GitHubException as exc:
                raise translate(exc, self.target, "listing its comments") from None
            # githubkit annotates this list[IssueComment] in a class with a method named `list`: mypy loses it
            found += [Comment(c.id, c.body or "") for c in cast("list[Any]", resp.parsed_data)]
            if 'rel="next"' not in resp.headers.get("link", ""):
                return found
            page += 1

    def create(self, body: str) -> Comment:
        self.calls += 1
        try:
            resp = self.github.rest.issues.create_comment(
                self.target.owner, self.target.name, self.target.number, body=body
            )
        except GitHubException as exc:
            raise translate(exc, self.target, "creating a comment") from None
        return Comment(resp.parsed_data.id, resp.parsed_data.body or "")

    def update(self, comment_id: int, body: str) -> Comment:
        self.calls += 1
        try:
            resp = self.github.rest.issues.update_comment(self.target.owner, self.target.name, comment_id, body=body)
        except GitHubException as exc:
            raise translate(exc, self.target, f"editing comment {comment_id}") from None
        return Comment(resp.parsed_data.id, resp.parsed_data.body or "")
