"""watch(): a real commit in a local repository wakes the loop; edits that commit nothing do not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsource.gitkit import Repo, git, new_repo, populate
from reconciler.drivers.git.source import GitSource
from reconciler.drivers.git.watch import watch

SETTLE = 0.5  # seconds for the watcher to install its inotify watches


class Watcher:
    def __init__(self, paths: list[Path]) -> None:
        self.stop = threading.Event()
        self.fired = threading.Event()
        self.changes: list[frozenset[Path]] = []
        self.thread = threading.Thread(target=watch, args=(paths, self.stop, self._on_change), daemon=True)

    def _on_change(self, paths: frozenset[Path]) -> None:
        self.changes.append(paths)
        self.fired.set()


@pytest.fixture()
def local(tmp_path: Path) -> Repo:
    repo = new_repo(tmp_path / "local")
    populate(repo)
    return repo


@pytest.fixture()
def watcher(local: Repo, tmp_path: Path) -> Iterator[Watcher]:
    w = Watcher(GitSource(str(local.path), "main", tmp_path / "cache").watch_paths())
    w.thread.start()
    time.sleep(SETTLE)
    yield w
    w.stop.set()
    w.thread.join(timeout=5)
    assert not w.thread.is_alive(), "watch() did not return after stop_event"


def test_a_new_commit_wakes_the_watcher(local: Repo, watcher: Watcher) -> None:
    local.write("environments/dev/stack.yaml", b"kind: Stack\nspec:\n  tag: '9.9'\n")
    started = time.monotonic()
    local.commit("dev: backend 9.9")
    assert watcher.fired.wait(timeout=5), "no change reported for a new commit"
    assert time.monotonic() - started < 2
    assert any(p.name == "main" for paths in watcher.changes for p in paths)


def test_edits_that_commit_nothing_do_not_wake_it(local: Repo, watcher: Watcher) -> None:
    local.write("environments/dev/stack.yaml", b"uncommitted: edit\n")
    git(local.path, "add", "-A")  # writes objects and the index, moves no branch
    assert not watcher.fired.wait(timeout=1.5)


def test_packed_refs_are_watched_too(local: Repo, watcher: Watcher) -> None:
    git(local.path, "pack-refs", "--all")
    assert watcher.fired.wait(timeout=5)


def test_without_paths_it_only_waits_for_stop() -> None:
    w = Watcher([])
    w.thread.start()
    time.sleep(0.1)
    assert w.thread.is_alive()
    w.stop.set()
    w.thread.join(timeout=2)
    assert not w.thread.is_alive() and not w.changes
