"""``reconciler comment`` end to end: real git repositories of environments planned against the
sandbox's moto, comments posted to the local GitHub API built from GitHub's official OpenAPI
description. Create, edit in place on the next push, no call when unchanged, two environments ->
two comments, a 10,000-parameter plan under the limit, no secret in any request, and each error
status -> a clear message, exit 1, the plan still on stdout."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.render.comment import LIMIT, marker
from reconciler.sandbox.lifecycle import SandboxInfo

from .apiserver import GitHubAPI
from .conftest import SECRET, TOKEN
from .gitrepo import commit, git, init, write_environment
from .markdowncheck import problems

SECURE = "\n    DB_PASSWORD: {type: SecureString, fromEnv: PRC_DB_PASSWORD}"


@dataclass
class Repo:
    path: Path
    prefix: str
    moto: str

    def env(self, name: str, parameters: dict[str, str]) -> None:
        write_environment(self.path / "environments" / name, name, self.moto, f"{self.prefix}/{name}", parameters,
                          SECURE)  # fmt: skip

    def commit(self, message: str) -> str:
        return commit(self.path, message)


@pytest.fixture
def repo(tmp_path: Path, sandbox: SandboxInfo) -> Iterator[Repo]:
    r = Repo(tmp_path / "gitops", f"/prc/{uuid.uuid4().hex[:10]}", sandbox.moto_url)
    init(r.path)
    r.env("dev", {"A": "1"})
    r.env("prod", {"A": "1"})
    r.commit("base")
    git(r.path, "checkout", "-q", "-b", "feature")
    yield r  # nothing is applied: plan is read-only


@pytest.fixture
def actions_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, github: GitHubAPI) -> Path:
    """The variables GitHub Actions sets for a pull_request workflow; the event file returned."""
    event = tmp_path / "event.json"
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/gitops")
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("PRC_DB_PASSWORD", SECRET)
    monkeypatch.setenv("NO_COLOR", "1")
    return event


def run(repo: Repo, event: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    head = git(repo.path, "rev-parse", "HEAD")
    event.write_text(json.dumps({"action": "synchronize", "number": 7,
                                 "pull_request": {"number": 7, "head": {"sha": head}}}))  # fmt: skip
    envs = sorted(str(p) for p in (repo.path / "environments").iterdir())
    code = cli.main(["comment", *envs, "--changed-since", "main", "--state-dir", str(repo.path.parent / "state"),
                     *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def test_create_then_edit_in_place_then_no_call(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("dev", {"A": "2", "B": "new"})
    first = repo.commit("dev: A=2, B")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0, err
    assert "### Reconciler plan for `dev`" in out and "prod" not in out.split("###")[1]
    assert "environments/prod: unchanged since main" in err and "environments/dev: changed" in err
    [body] = github.bodies("octo", "gitops", 7)
    assert body.startswith(marker("environments/dev") + "\n") and f"Head commit: {first}" in body
    assert [r.method for r in github.requests] == ["GET", "POST"]

    code, _, err = run(repo, actions_env, capsys)  # the same head again (a re-run)
    assert code == 0 and "no call: the same body is there" in err
    assert [r.method for r in github.requests] == ["GET", "POST", "GET"]

    repo.env("dev", {"A": "3", "B": "new"})
    second = repo.commit("dev: A=3")
    code, _, err = run(repo, actions_env, capsys)
    assert code == 0 and "updated" in err
    [body] = github.bodies("octo", "gitops", 7)  # still one comment, edited
    assert f"Head commit: {second}" in body and first not in body
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "GET", "PATCH"]


def test_two_environments_two_comments_and_other_comments_untouched(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    github.add_comment("octo", "gitops", 7, "LGTM, but see " + marker("environments/dev"))  # quotes the marker
    repo.env("dev", {"A": "2"})
    repo.env("prod", {"A": "2"})
    repo.commit("both")
    code, _out, err = run(repo, actions_env, capsys, "--detailed-exitcode", "--out", str(repo.path.parent / "plans"))
    assert code == 2, err
    bodies = github.bodies("octo", "gitops", 7)
    assert len(bodies) == 3 and bodies[0].startswith("LGTM")
    assert {b.splitlines()[0] for b in bodies[1:]} == {marker("environments/dev"), marker("environments/prod")}
    plans = sorted(p.name for p in (repo.path.parent / "plans").iterdir())
    assert plans == ["environments-dev.json", "environments-dev.md", "environments-prod.json", "environments-prod.md"]
    assert json.loads((repo.path.parent / "plans/environments-prod.json").read_text())["format_version"]


def test_no_secret_in_any_request_or_output(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("dev", {"A": "2"})
    repo.commit("dev")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0, err
    assert "(sensitive)" in github.bodies("octo", "gitops", 7)[0]
    for request in github.requests:
        assert SECRET not in request.body and SECRET not in request.path + request.query
        assert TOKEN not in request.body
        assert request.headers["authorization"] == f"token {TOKEN}"  # the token only where it belongs
    assert SECRET not in out + err and TOKEN not in out + err


def test_a_ten_thousand_parameter_plan_fits_under_the_limit(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("dev", {f"P{i:05d}": f"value-{i}" for i in range(10_000)})
    repo.commit("dev: 10,000 parameters")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0, err
    [body] = github.bodies("octo", "gitops", 7)
    assert len(body) <= LIMIT and problems(body) == []
    assert "of 10,001 changes shown" in body and "https://github.com/octo/gitops/actions/runs/4242" in body
    assert out.count("| `+` |") == 10_001  # the whole plan on stdout


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("401", "401: the token was refused"),
        ("403", "403: the token may not do this"),
        ("404", "404: not found"),
        ("422", "422: GitHub refused the request as invalid"),
        ("502", "502: GitHub failed"),
        ("ratelimit", "rate limited by GitHub: no API calls left until"),
        ("429", "rate limited by GitHub (retry after 1 s)"),
    ],
)
def test_each_error_status_is_a_clear_message_exit_1_and_the_plan_still_printed(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str], kind: str, words: str
) -> None:
    repo.env("dev", {"A": "2"})
    repo.commit("dev")
    github.fail(kind, times=3)
    code, out, err = run(repo, actions_env, capsys)
    assert code == 1
    assert "### Reconciler plan for `dev`" in out and "/dev/A" in out
    assert "Error: the plan(s) above were not posted: pull request octo/gitops#7, listing its comments" in err
    assert words in err and TOKEN not in out + err and "Traceback" not in err


def test_a_missing_token_is_a_clear_error(
    repo: Repo,
    actions_env: Path,
    github: GitHubAPI,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    repo.env("dev", {"A": "2"})
    repo.commit("dev")
    code, _, err = run(repo, actions_env, capsys)
    assert code == 1 and "GITHUB_TOKEN is not set" in err and github.requests == []


def test_an_environment_that_cannot_be_planned_says_why_in_its_comment(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo.path / "environments/prod/parameters.yaml").write_text("kind: ParameterSet\nspec: [\n")
    repo.commit("break prod")
    code, _out, _err = run(repo, actions_env, capsys)
    assert code == 1
    [body] = github.bodies("octo", "gitops", 7)
    assert body.startswith(marker("environments/prod")) and ":x: **The plan could not be made:**" in body
    assert "parameters.yaml:" in body and problems(body) == []


def test_a_dry_run_prints_the_comment_and_calls_nothing(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("dev", {"A": "2"})
    head = repo.commit("dev")
    code, out, _ = run(repo, actions_env, capsys, "--dry-run")
    assert code == 0 and github.requests == []
    assert out.startswith(marker("environments/dev") + "\n") and f"Head commit: {head}" in out


def test_a_comment_whose_environment_is_no_longer_changed_says_so(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("dev", {"A": "2"})
    repo.commit("dev: A=2")
    assert run(repo, actions_env, capsys)[0] == 0
    repo.env("dev", {"A": "1"})  # the change undone: the pull request no longer changes dev
    undone = repo.commit("dev: back to A=1")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0 and out == "" and "no longer changes this environment" in err
    [body] = github.bodies("octo", "gitops", 7)
    assert "This pull request no longer changes this environment" in body and f"Head commit: {undone}" in body
    assert problems(body) == []
    run(repo, actions_env, capsys)  # again: the same body, no call; prod never had a comment: none made
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH", "GET"]


def test_a_deleted_environment_folder_gets_its_comment_edited_to_say_so(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("prod", {"A": "2"})
    repo.commit("prod: A=2")
    assert run(repo, actions_env, capsys)[0] == 0
    (repo.path / "other/stage").mkdir(parents=True)  # a folder not given: its comment is not this run's to edit
    github.add_comment("octo", "gitops", 7, marker("other/stage") + "\n### Reconciler plan for `stage`\n\nkept")
    github.add_comment("octo", "gitops", 7, marker("environments/gone") + "\nsomeone quoting a marker: kept")
    shutil.rmtree(repo.path / "environments/prod")
    head = repo.commit("prod: retired")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0 and out == "", err
    assert "environments/prod: comment" in err and "the folder is gone at the head commit" in err
    prod, stage, quoted = github.bodies("octo", "gitops", 7)
    assert prod.startswith(marker("environments/prod") + "\n") and f"Head commit: {head}" in prod
    assert "This pull request removes the folder `environments/prod`" in prod and "| `+` |" not in prod
    assert "Merging deletes nothing, in AWS or on the hosts." in prod
    assert "reconciler run --path environments/prod" in prod
    assert problems(prod) == [] and stage.endswith("kept") and quoted.endswith("kept")
    run(repo, actions_env, capsys)  # again: the same body, no call
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH", "GET"]


def test_a_renamed_environment_shows_the_removal_of_the_old_and_the_plan_of_the_new(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("prod", {"A": "2"})
    repo.commit("prod: A=2")
    assert run(repo, actions_env, capsys)[0] == 0
    git(repo.path, "mv", "environments/prod", "environments/production")
    repo.commit("prod: moved")
    code, out, err = run(repo, actions_env, capsys)
    assert code == 0, err
    assert "### Reconciler plan for `prod`" in out  # the new folder planned (its environment is still named prod)
    old, new = github.bodies("octo", "gitops", 7)
    assert old.startswith(marker("environments/prod") + "\n") and new.startswith(marker("environments/production"))
    assert "removes the folder `environments/prod`" in old and "move to `environments/production`" in old
    assert "/prod/A" in new and problems(old) == []
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "POST", "PATCH"]


def test_an_environment_added_then_removed_again_is_no_longer_added(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("qa", {"A": "1"})
    repo.commit("qa: new")
    assert run(repo, actions_env, capsys)[0] == 0
    assert github.bodies("octo", "gitops", 7)[0].startswith(marker("environments/qa"))
    shutil.rmtree(repo.path / "environments/qa")
    repo.commit("qa: not yet after all")
    code, _, err = run(repo, actions_env, capsys)
    assert code == 0, err
    [body] = github.bodies("octo", "gitops", 7)
    assert "This pull request no longer adds the folder `environments/qa`: nothing to plan." in body
    assert "Merging" not in body


def test_a_deleted_folder_named_explicitly_is_removed_not_an_error(
    repo: Repo, actions_env: Path, github: GitHubAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.env("prod", {"A": "2"})
    repo.commit("prod: A=2")
    assert run(repo, actions_env, capsys)[0] == 0
    shutil.rmtree(repo.path / "environments/prod")
    repo.commit("prod: retired")
    folders = [str(repo.path / "environments" / name) for name in ("dev", "prod", "qa")]
    state = ["--state-dir", str(repo.path.parent / "state"), "--changed-since", "main"]
    code = cli.main(["comment", *folders[:2], *state])
    err = capsys.readouterr().err
    assert code == 0 and "environments/prod: removed since main: nothing to plan" in err, err
    assert "removes the folder `environments/prod`" in github.bodies("octo", "gitops", 7)[0]
    assert cli.main(["comment", *folders, *state]) == 1  # never there: not a folder, as before
    assert "not a folder:" in capsys.readouterr().err and "qa" not in " ".join(github.bodies("octo", "gitops", 7))
