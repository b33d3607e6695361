"""Real git repositories in temp dirs: a bare "remote", a clone that commits and pushes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitsource.gitkit import Repo, make_remote


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config (signing, hooks, aliases) leaks into the tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_SSH_COMMAND", "GIT_ASKPASS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def remote(tmp_path: Path) -> tuple[Path, Repo]:
    """(bare remote, a clone with three commits pushed: dev v1, dev v2, prod-only change)."""
    return make_remote(tmp_path)
