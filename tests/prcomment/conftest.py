"""The local GitHub API (apiserver.py) from GitHub's official OpenAPI description: the
description is loaded once a session (installed through npm by scripts/install-npm-tools.sh
when missing); each test gets its own server with no comments, and fails if any request or
answer did not match the description, or if a request carries a secret (the token only in its
``authorization`` header)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .apiserver import GitHubAPI, load_description, serving

TOKEN = "ghs_T0kenThatMustNeverBePrinted0123456789"
#: the value of every SecureString the tests' environments declare (fromEnv)
SECRET = "Sup3r-S3cret-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def github_description() -> dict[str, Any]:
    return load_description()


@pytest.fixture
def github(github_description: dict[str, Any]) -> Iterator[GitHubAPI]:
    with serving(GitHubAPI(github_description, TOKEN)) as api:
        yield api
    assert api.violations == [], "requests or answers outside GitHub's API description"
    for request in api.requests:  # no secret in any request; the token only in its header
        for part in (request.body, request.path, request.query, *(v for k, v in request.headers.items()
                                                                  if k != "authorization")):  # fmt: skip
            assert SECRET not in part and TOKEN not in part, request
