"""The loop checks out a commit's whole tree: a compose file that includes or extends files outside its
environment folder (``../../shared``) loads from the same commit, and a commit that changes only such a
file changes the config hash of exactly the services it defines. Real git repositories in temp dirs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gitsource.gitkit import new_repo

from reconciler.app.settings import Overrides
from reconciler.core.errors import PermanentError
from reconciler.core.observed import ObservedState
from reconciler.drivers.git.source import GitSource
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.planner.targets import service_targets
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

VALID = Path(__file__).resolve().parents[1] / "spec" / "cases" / "_valid"
SHARED = """\
services:
  redis:
    extends: {file: base.yaml, service: cache}
"""
BASE = """\
services:
  cache:
    image: popcon/redis:7.2
    healthcheck:
      test: ["CMD", "true"]
"""


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


def ticker(repo: Path, work: Path, path: str = "environments/dev") -> Ticker:
    options = LoopOptions(repo=str(repo), path=path, overrides=Overrides(state_dir=work / "state"))
    source = GitSource(str(repo), "main", work / "git")

    def unused(*_args: object) -> object:
        raise AssertionError("checkout needs no world or store")

    return Ticker(options, source, work / "loop", open_world=unused, open_store=unused, owner_command="test",
                  say=lambda _l: None, on_event=lambda _e: None)  # fmt: skip


def hashes(env: Path) -> dict[str, str]:
    state = build_desired(load_environment(env), lambda _name: "x")
    (stack,) = state.stacks
    observed = ObservedState(image_digests={ref.key: "sha256:" + "0" * 64 for ref in state.images})
    return {name: t.config_hash for name, t in service_targets(stack, state, observed).items()}


def test_files_included_from_outside_the_environment_folder_come_from_the_same_commit(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    env = repo.path / "environments" / "dev"
    shutil.copytree(VALID, env)
    compose = (env / "docker-compose.yml").read_text()
    start, end = compose.index("  redis:\n"), compose.index("\nvolumes:")
    (env / "docker-compose.yml").write_text("include:\n  - ../../shared/cache.yaml\n" + compose[:start] + compose[end:])
    repo.write("shared/cache.yaml", SHARED.encode())
    repo.write("shared/base.yaml", BASE.encode())
    repo.commit("dev with a shared cache")

    loop = ticker(repo.path, tmp_path / "work")
    first = loop.checkout(loop.source.fetch())
    assert first.name == "dev" and (first.parent.parent / "shared" / "base.yaml").is_file()
    before = hashes(first)
    assert sorted(before) == ["backend", "frontend", "mysql", "redis"]

    repo.write("shared/base.yaml", BASE.replace("7.2", "7.4").encode())  # only a file outside the folder
    repo.commit("shared: redis 7.4")
    second = loop.checkout(loop.source.fetch())
    after = hashes(second)
    assert {name for name in before if before[name] != after[name]} == {"redis"}
    assert hashes(first) == before  # the older commit's tree is its own


def test_an_environment_path_missing_at_a_commit_is_a_permanent_error(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    repo.write("README.md", b"# nothing here\n")
    repo.commit("empty")
    loop = ticker(repo.path, tmp_path / "work", path="environments/dev")
    with pytest.raises(PermanentError, match="path 'environments/dev' does not exist at commit"):
        loop.checkout(loop.source.fetch())
    with pytest.raises(PermanentError, match=r"without '\.\.'"):
        ticker(repo.path, tmp_path / "work2", path="../outside").checkout(loop.source.fetch())


def test_a_tick_after_the_folder_is_deleted_fails_permanently_and_touches_nothing(tmp_path: Path) -> None:
    """What the pull-request comment of a deleted folder says merging does (render/comment_removed)."""
    from reconciler.state import Result, Trigger

    repo = new_repo(tmp_path / "repo")
    shutil.copytree(VALID, repo.path / "environments" / "dev")
    repo.write("README.md", b"# gitops\n")
    repo.commit("dev")
    loop = ticker(repo.path, tmp_path / "work")
    assert loop.checkout(loop.source.fetch()).is_dir()
    shutil.rmtree(repo.path / "environments")
    gone = repo.commit("dev: removed")
    outcome = loop.tick(Trigger.POLL, "test")  # opens no world and no store (both raise here)
    assert outcome.result is Result.FAILED and not outcome.temporary and outcome.exit_code == 1
    assert outcome.error is not None and f"'environments/dev' does not exist at commit {gone[:12]}" in outcome.error
