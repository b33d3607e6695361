"""A githubkit client for one repository, and GitHub's errors as clear messages. Does I/O (HTTP).

Why githubkit: its REST methods and models are generated from GitHub's own OpenAPI
description (typed requests and responses, checked by mypy), it runs on httpx (timeouts, a
transport to inject), has a sync API, takes a ``base_url`` for GitHub Enterprise Server
(``https://HOST/api/v3``) and retries on its own where we let it. PyGithub is sync too, but
on requests and untyped at the edges, and its lazy objects make calls of their own.

Retries (:func:`retry_decision`): a 5xx is tried again twice (after 1 s, then 2 s); a rate
limit (403 or 429 with ``x-ratelimit-remaining: 0`` or ``retry-after``) once, only when GitHub
asks to wait at most ``max_wait`` seconds. Everything else fails at once.

Errors (:func:`translate`): 401, 403, 404, 422, 5xx, a rate limit, a timeout and an
unreachable API each become a :class:`~reconciler.core.errors.PermanentError` or
:class:`~reconciler.core.errors.TemporaryError` naming the pull request, the API URL and what
to do; GitHub's own message is quoted, the token never (it is only ever in a request header).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from githubkit import GitHub
from githubkit.exception import GitHubException, RateLimitExceeded, RequestError, RequestFailed, RequestTimeout
from githubkit.retry import RetryOption

from reconciler.core.errors import PermanentError, TemporaryError, WorldError

__all__ = ["GitHubTarget", "connect", "retry_decision", "translate"]

DEFAULT_API_URL = "https://api.github.com"
SERVER_RETRIES = 2
RATE_LIMIT_MAX_WAIT = 60.0
TIMEOUT = 30.0


@dataclass(frozen=True)
class GitHubTarget:
    """Where the API is and which pull request: ``repository`` is ``owner/name``."""

    api_url: str
    repository: str
    number: int

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def resource(self) -> str:
        return f"pull request {self.repository}#{self.number}"


def retry_decision(
    max_wait: float = RATE_LIMIT_MAX_WAIT, server_retries: int = SERVER_RETRIES
) -> Callable[[GitHubException, int], RetryOption]:
    """githubkit's ``auto_retry``: 5xx twice (1 s, 2 s); a rate limit once if the wait is short."""

    def decide(exc: GitHubException, count: int) -> RetryOption:
        if isinstance(exc, RateLimitExceeded):
            wait = exc.retry_after.total_seconds()
            return RetryOption(True, exc.retry_after) if count < 1 and wait <= max_wait else RetryOption(False)
        if isinstance(exc, RequestFailed) and exc.response.status_code >= 500 and count < server_retries:
            return RetryOption(True, timedelta(seconds=count + 1))
        return RetryOption(False)

    return decide


def connect(token: str, api_url: str = DEFAULT_API_URL, *, max_wait: float = RATE_LIMIT_MAX_WAIT,
            transport: httpx.BaseTransport | None = None) -> GitHub[Any]:  # fmt: skip
    """A client for ``api_url`` (``https://api.github.com``, or a GitHub Enterprise Server's
    ``https://HOST/api/v3``) authenticated by ``token``; no HTTP cache (one run, a few calls)."""
    return GitHub(
        token,
        base_url=api_url.rstrip("/") + "/",
        user_agent="reconciler",
        timeout=TIMEOUT,
        http_cache=False,
        auto_retry=retry_decision(max_wait),
        transport=transport,
    )


def _github_message(exc: RequestFailed) -> str:
    try:
        data = exc.response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message", ""))
    details = [str(e.get("message") or e.get("code") or "") for e in data.get("errors") or [] if isinstance(e, dict)]
    details = [d for d in details if d]
    return "; ".join([message, *details]) if message else "; ".join(details)


def _rate_limit(exc: RequestFailed) -> str | None:
    headers = exc.response.headers
    if exc.response.status_code not in (403, 429):
        return None
    if "retry-after" in headers:
        return f"rate limited by GitHub (retry after {headers['retry-after']} s)"
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        when = time.strftime("%H:%M:%S UTC", time.gmtime(int(reset))) if reset.isdigit() else "later"
        return f"rate limited by GitHub: no API calls left until {when} (x-ratelimit-reset)"
    if exc.response.status_code == 429 or "rate limit" in _github_message(exc).lower():
        return "rate limited by GitHub"
    return None


def translate(exc: GitHubException, target: GitHubTarget, doing: str) -> WorldError:
    """A clear error for what GitHub answered while ``doing`` (e.g. "listing its comments")."""
    where = f"{target.resource}, {doing}"
    endpoint = target.api_url
    if isinstance(exc, RequestTimeout):
        return TemporaryError(where, f"GitHub did not answer within {TIMEOUT:g} s", endpoint=endpoint)
    if not isinstance(exc, RequestFailed):
        cause = exc.exc if isinstance(exc, RequestError) else exc
        return TemporaryError(where, f"cannot reach the GitHub API: {type(cause).__name__}", endpoint=endpoint)
    status = exc.response.status_code
    said = _github_message(exc)
    quoted = f" (GitHub: {said})" if said else ""
    limited = _rate_limit(exc)
    if limited:
        return TemporaryError(where, f"{limited}{quoted}; run the job again later", endpoint=endpoint)
    if status == 401:
        return PermanentError(where, f"401: the token was refused{quoted}: is GITHUB_TOKEN (or --token-env) set to a "
                              "valid, unexpired token?", endpoint=endpoint)  # fmt: skip
    if status == 403:
        return PermanentError(where, f"403: the token may not do this{quoted}: the workflow needs `permissions: "
                              "pull-requests: write` (a pull request from a fork gets a read-only token)",
                              endpoint=endpoint)  # fmt: skip
    if status == 404:
        return PermanentError(where, f"404: not found{quoted}: check the repository ({target.repository}) and the "
                              "pull request number, and that the token can see it", endpoint=endpoint)  # fmt: skip
    if status == 410:
        return PermanentError(where, f"410: gone{quoted}: issues or comments are disabled", endpoint=endpoint)
    if status == 422:
        return PermanentError(where, f"422: GitHub refused the request as invalid{quoted}", endpoint=endpoint)
    if status >= 500:
        return TemporaryError(where, f"{status}: GitHub failed{quoted}, {SERVER_RETRIES + 1} attempts; run the job "
                              "again later", endpoint=endpoint)  # fmt: skip
    return PermanentError(where, f"{status}: unexpected answer{quoted}", endpoint=endpoint)
