"""The local GitHub API (apiserver.py) from GitHub's official OpenAPI description: the
description is loaded once a session (installed through npm by scripts/install-npm-tools.sh
when missing); each test gets its own server with no comments, and fails if any request or
answer did not match the description."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .apiserver import GitHubAPI, load_description, serving

TOKEN = "ghs_T0kenThatMustNeverBePrinted0123456789"


@pytest.fixture(scope="session")
def github_description() -> dict[str, Any]:
    return load_description()


@pytest.fixture
def github(github_description: dict[str, Any]) -> Iterator[GitHubAPI]:
    with serving(GitHubAPI(github_description, TOKEN)) as api:
        yield api
    assert api.violations == [], "requests or answers outside GitHub's API description"
