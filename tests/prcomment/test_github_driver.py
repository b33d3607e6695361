"""The GitHub driver (reconciler.drivers.github) against the local GitHub API built from GitHub's
official OpenAPI description: every request it sends validates against the operation's schema,
pages are followed, GitHub Enterprise's /api/v3 base URL works, and every error status becomes
a clear message naming the pull request and what to do, never the token."""

from __future__ import annotations

import pytest

from reconciler.core.errors import PermanentError, TemporaryError, WorldError
from reconciler.drivers.github import GitHubTarget, PullRequestComments, connect

from .apiserver import GitHubAPI
from .conftest import TOKEN


def comments(api: GitHubAPI, *, base: str = "", token: str = TOKEN) -> PullRequestComments:
    target = GitHubTarget(api.url + base, "octo/envs", 7)
    return PullRequestComments(connect(token, target.api_url, max_wait=5), target)


def test_create_list_and_edit_a_comment(github: GitHubAPI) -> None:
    client = comments(github)
    created = client.create("first")
    assert client.existing()[-1] == created
    edited = client.update(created.id, "second")
    assert (edited.id, edited.body) == (created.id, "second")
    assert github.bodies("octo", "envs", 7) == ["second"]
    assert [r.method for r in github.requests] == ["POST", "GET", "PATCH"]


def test_every_page_is_read(github: GitHubAPI) -> None:
    for i in range(250):
        github.add_comment("octo", "envs", 7, f"c{i}")
    client = comments(github)
    assert [c.body for c in client.existing()] == [f"c{i}" for i in range(250)]
    assert client.calls == 3  # 100 a page


def test_github_enterprise_base_url(github: GitHubAPI) -> None:
    client = comments(github, base="/api/v3")
    client.create("on GHES")
    assert github.bodies("octo", "envs", 7) == ["on GHES"]


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("401", PermanentError, "401: the token was refused (GitHub: Bad credentials)"),
        ("403", PermanentError, "pull-requests: write"),
        ("404", PermanentError, "404: not found (GitHub: Not Found): check the repository (octo/envs)"),
        ("422", PermanentError, "422: GitHub refused the request as invalid (GitHub: Validation Failed; Could not"),
        ("ratelimit", TemporaryError, "rate limited by GitHub: no API calls left until"),
        ("secondary", TemporaryError, "rate limited by GitHub (retry after 1 s)"),
        ("429", TemporaryError, "rate limited by GitHub (retry after 1 s)"),
    ],
)
def test_each_error_is_a_clear_message(github: GitHubAPI, kind: str, error: type[WorldError], words: str) -> None:
    github.fail(kind, times=3)
    with pytest.raises(error) as caught:
        comments(github).create("x")
    message = str(caught.value)
    assert words in message, message
    assert "pull request octo/envs#7, creating a comment" in message and github.url in message
    assert TOKEN not in message


def test_a_wrong_token_is_refused_by_the_server_itself(github: GitHubAPI) -> None:
    with pytest.raises(PermanentError, match="401: the token was refused"):
        comments(github, token="ghs_wrong").existing()


def test_a_server_error_is_tried_three_times_then_reported(github: GitHubAPI) -> None:
    github.fail("502", times=3)
    with pytest.raises(TemporaryError, match=r"502: GitHub failed \(GitHub: Server Error\), 3 attempts"):
        comments(github).existing()
    assert len(github.requests) == 3


def test_a_server_error_once_is_retried(github: GitHubAPI) -> None:
    github.fail("500")
    assert comments(github).create("after a 500").body == "after a 500"
    assert len(github.requests) == 2


def test_a_body_over_the_limit_is_refused_as_github_does(github: GitHubAPI) -> None:
    with pytest.raises(PermanentError, match="body is too long"):
        comments(github).create("x" * 65_537)


def test_an_unreachable_api(github: GitHubAPI) -> None:
    target = GitHubTarget("http://127.0.0.1:9", "octo/envs", 7)
    with pytest.raises(TemporaryError, match="cannot reach the GitHub API: ConnectError"):
        PullRequestComments(connect(TOKEN, target.api_url), target).existing()


def test_the_local_api_refuses_what_githubs_description_refuses(github: GitHubAPI) -> None:
    """The stand-in can fail: a body without ``body``, a wrong type, an unknown query parameter value."""
    import httpx

    headers = {"authorization": f"token {TOKEN}"}
    url = f"{github.url}/repos/octo/envs/issues/7/comments"
    assert httpx.post(url, json={"bod": "x"}, headers=headers).status_code == 400
    assert httpx.post(url, json={"body": 5}, headers=headers).status_code == 400
    assert httpx.get(url, params={"per_page": "many"}, headers=headers).status_code == 400
    assert len(github.violations) == 3 and "'body' is a required property" in github.violations[0]
    github.violations.clear()
