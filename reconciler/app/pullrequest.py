"""Which pull request a comment goes to, and as whom: from flags, else from GitHub Actions.

In a workflow run by ``pull_request``, GitHub sets ``GITHUB_REPOSITORY`` (``owner/name``),
``GITHUB_API_URL`` (``https://api.github.com``, or a GitHub Enterprise Server's
``https://HOST/api/v3``), ``GITHUB_SERVER_URL`` and ``GITHUB_RUN_ID``, and writes the event to
the file ``GITHUB_EVENT_PATH`` (the pull request's number and head commit). A flag given
explicitly wins. The token is read from the environment variable named by ``token_env``
(``GITHUB_TOKEN``), never from a flag: it stays out of the process list and the shell history.
Reads the event file; no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import ReconcilerError

__all__ = ["PullRequestFlags", "PullRequestRef", "pull_request", "token"]

DEFAULT_API_URL = "https://api.github.com"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class PullRequestFlags:
    """What the command line said (None: take it from GitHub Actions)."""

    repository: str | None = None
    number: int | None = None
    head_sha: str | None = None
    api_url: str | None = None
    artifact: str | None = None


@dataclass(frozen=True)
class PullRequestRef:
    api_url: str
    repository: str
    number: int
    head_sha: str | None
    artifact: str | None  # where the whole plan is: the workflow run (its artifacts)


def _event(environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"GITHUB_EVENT_PATH {path}: cannot read the workflow's event: {exc}") from None
    return data if isinstance(data, dict) else {}


def pull_request(flags: PullRequestFlags, environ: Mapping[str, str]) -> PullRequestRef:
    """The pull request to comment on; ReconcilerError saying which flag is missing."""
    event = _event(environ)
    pr = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else {}
    assert isinstance(pr, dict)
    repository = flags.repository or environ.get("GITHUB_REPOSITORY")
    if not repository or not _REPOSITORY.match(repository):
        shown = f" ({repository!r} is not OWNER/NAME)" if repository else ""
        raise ReconcilerError(f"which repository? give --repository OWNER/NAME (or GITHUB_REPOSITORY){shown}")
    number = flags.number if flags.number is not None else pr.get("number", event.get("number"))
    if not isinstance(number, int) or number < 1:
        raise ReconcilerError(
            "which pull request? give --pull-request N, or run in a workflow triggered by pull_request "
            "(GITHUB_EVENT_PATH holds its number)"
        )
    head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
    assert isinstance(head, dict)
    sha = flags.head_sha or (str(head["sha"]) if isinstance(head.get("sha"), str) else None)
    api_url = flags.api_url or environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        raise ReconcilerError(
            f"--github-api-url {api_url!r}: give an http(s) URL, e.g. https://github.example.com/api/v3"
        )
    artifact = flags.artifact or _run_url(environ)
    return PullRequestRef(api_url.rstrip("/"), repository, number, sha, artifact)


def _run_url(environ: Mapping[str, str]) -> str | None:
    server, repository, run = (environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repository and run:
        return f"the artifacts of {server.rstrip('/')}/{repository}/actions/runs/{run}"
    return None


def token(name: str, environ: Mapping[str, str]) -> str:
    """The token in the environment variable ``name``; ReconcilerError (naming only the variable) when unset."""
    value = environ.get(name, "").strip()
    if not value:
        raise ReconcilerError(
            f"{name} is not set: the workflow passes it as `env: {name}: ${{{{ secrets.GITHUB_TOKEN }}}}` "
            "(with permissions: pull-requests: write)"
        )
    return value
