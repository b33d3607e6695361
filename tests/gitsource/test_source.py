"""GitSource: fetch, checkout, revision, changed, typed errors; real repositories, no mocks."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitsource.gitkit import STACK_V2, Repo, disk_files, git, new_repo, populate, tree_files
from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.drivers.git.command import mask_url
from reconciler.drivers.git.source import GitSource

DEV = "environments/dev"


def test_fetch_returns_the_head_and_sees_a_new_pushed_commit(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, clone = remote
    source = GitSource(f"file://{bare}", "main", tmp_path / "cache")
    head = source.fetch()
    assert head.sha == clone.head()
    assert head.author == "Dev One <dev1@example.com>"
    assert head.subject == "prod: tweak" and head.message == "prod: tweak\n\nthe body\n"
    assert abs(head.committed_at - time.time()) < 600
    clone.write(f"{DEV}/stack.yaml", b"kind: Stack\nspec:\n  tag: '3.0'\n")
    pushed = clone.commit("dev: backend 3.0", push=True)
    assert source.fetch().sha == pushed
    assert source.revision(head.sha) == head


def test_the_mirror_is_private_and_keeps_no_url(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    source = GitSource(f"file://{bare}", "main", tmp_path / "cache")
    source.fetch()
    assert stat.S_IMODE(source.mirror.stat().st_mode) == 0o700
    assert str(bare) not in git(source.mirror, "config", "--list")
    assert not (source.mirror / "FETCH_HEAD").exists()
    other = GitSource(str(bare), "main", tmp_path / "cache")  # a plain path is another mirror
    assert other.fetch().sha == source.fetch().sha and other.mirror != source.mirror


def test_checkout_has_exactly_the_committed_files_never_local_edits(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "local")
    shas = populate(repo)
    repo.write(f"{DEV}/stack.yaml", b"uncommitted: edit\n")
    repo.write(f"{DEV}/untracked.yaml", b"never: committed\n")
    repo.write(f"{DEV}/staged.yaml", b"staged: only\n")
    git(repo.path, "add", f"{DEV}/staged.yaml")
    source = GitSource(str(repo.path), "main", tmp_path / "cache")
    head = source.fetch()
    assert head.sha == shas[-1]
    dest = source.checkout(head.sha, DEV, tmp_path / "work" / head.sha)
    on_disk = disk_files(dest)
    assert on_disk == tree_files(repo.path, head.sha, DEV)
    assert on_disk["stack.yaml"] == ("100644", STACK_V2)
    assert not {"untracked.yaml", "staged.yaml", ".git"} & set(on_disk)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [head.sha]  # no temporary sibling left


def test_checkout_keeps_exec_bits_and_symlinks_and_is_private(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, clone = remote
    source = GitSource(str(bare), "main", tmp_path / "cache")
    first = git(clone.path, "rev-list", "--max-parents=0", "HEAD")
    source.fetch()
    dest = source.checkout(first, "environments/dev/", tmp_path / "dev")
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert (dest / "hooks/check.sh").stat().st_mode & 0o100
    assert not (dest / "stack.yaml").stat().st_mode & 0o111
    assert (dest / "current.yaml").is_symlink() and str((dest / "current.yaml").readlink()) == "stack.yaml"
    assert disk_files(dest) == tree_files(clone.path, first, DEV)


@pytest.mark.parametrize("root", ["", ".", "./"])
def test_checkout_of_the_root(tmp_path: Path, remote: tuple[Path, Repo], root: str) -> None:
    bare, clone = remote
    source = GitSource(str(bare), "main", tmp_path / "cache")
    dest = source.checkout(source.fetch().sha, root, tmp_path / "all")
    assert disk_files(dest) == tree_files(clone.path, clone.head(), "")


def test_checkout_of_a_missing_path_names_it_and_the_commit(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    source = GitSource(str(bare), "main", tmp_path / "cache")
    head = source.fetch()
    for path, what in (("environments/qa", "does not exist"), ("README.md", "is not a folder")):
        with pytest.raises(PermanentError) as info:
            source.checkout(head.sha, path, tmp_path / "x")
        assert path in str(info.value) and head.sha[:12] in str(info.value) and what in str(info.value)
        assert str(bare) in str(info.value)
    with pytest.raises(PermanentError, match=r"\.\."):
        source.checkout(head.sha, "../etc", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        source.checkout(head.sha, DEV, tmp_path / "taken")


def test_changed_compares_the_folder_between_commits(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, clone = remote
    source = GitSource(str(bare), "main", tmp_path / "cache")
    source.fetch()
    v1, v2, v3 = git(clone.path, "rev-list", "--reverse", "HEAD").split()
    assert source.changed(v1, v2, DEV) and not source.changed(v2, v3, DEV)
    assert source.changed(v2, v3, "environments/prod") and source.changed(v1, v3, "")
    assert source.changed(v1, v3, "environments/qa") is False


def test_a_missing_branch_is_permanent_and_named(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    with pytest.raises(PermanentError) as info:
        GitSource(f"file://{bare}", "release", tmp_path / "cache").fetch()
    assert f"file://{bare}" in str(info.value) and "release" in str(info.value)


def test_a_path_that_is_no_repository_is_permanent(tmp_path: Path) -> None:
    for url in ("file:///nonexistent", str(tmp_path)):
        with pytest.raises(PermanentError) as info:
            GitSource(url, "main", tmp_path / "cache").fetch()
        assert url in str(info.value) and "branch main" in str(info.value)


def test_a_refused_connection_is_temporary_and_the_credential_masked(tmp_path: Path) -> None:
    url = "http://deployer:s3cr3t-token@127.0.0.1:9/envs.git"
    with pytest.raises(TemporaryError) as info:
        GitSource(url, "main", tmp_path / "cache").fetch()
    message = str(info.value)
    assert "s3cr3t" not in message and "http://deployer:***@127.0.0.1:9/envs.git" in message
    assert "branch main" in message and info.value.endpoint == "http://deployer:***@127.0.0.1:9/envs.git"


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_remote_that_never_answers_times_out(tmp_path: Path, silent_server: int) -> None:
    url = f"http://x-access-token:ghp_secret@127.0.0.1:{silent_server}/envs.git"
    started = time.monotonic()
    with pytest.raises(TemporaryError) as info:
        GitSource(url, "main", tmp_path / "cache", timeout=1.5).fetch()
    assert time.monotonic() - started < 10
    assert "timed out after 1.5 s" in str(info.value) and "ghp_secret" not in str(info.value)
    time.sleep(0.2)  # the whole process group was killed: no git helper is left behind
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, f":{silent_server}/")]


def _cmdline_has(pid: str, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture()
def http_status() -> Iterator[tuple[int, list[int]]]:
    """An HTTP server answering every request with the status in ``statuses[0]``; (port, statuses)."""
    statuses = [401]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0])
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], statuses
    server.shutdown()
    server.server_close()
    thread.join()


def test_refused_credentials_are_permanent_a_5xx_temporary(tmp_path: Path, http_status: tuple[int, list[int]]) -> None:
    port, statuses = http_status
    for url in (f"http://127.0.0.1:{port}/envs.git", f"http://bot:wrong-token@127.0.0.1:{port}/envs.git"):
        with pytest.raises(PermanentError) as info:
            GitSource(url, "main", tmp_path / "cache").fetch()
        assert "wrong-token" not in str(info.value) and "branch main" in str(info.value)
        assert f"127.0.0.1:{port}/envs.git" in str(info.value)
    statuses[0] = 503
    with pytest.raises(TemporaryError, match="503"):
        GitSource(f"http://127.0.0.1:{port}/envs.git", "main", tmp_path / "cache").fetch()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:tok@github.com/o/r.git", "https://user:***@github.com/o/r.git"),
        ("https://ghp_abc@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("ssh://git:pw@host/r.git", "ssh://git:***@host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/git/envs", "/srv/git/envs"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_watch_paths(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, clone = remote
    assert GitSource("https://example.com/o/r.git", "main", tmp_path).watch_paths() == []
    assert GitSource(str(clone.path), "main", tmp_path).watch_paths() == [
        (clone.path / ".git/refs/heads/main").resolve(),
        (clone.path / ".git/packed-refs").resolve(),
    ]
    assert GitSource(f"file://{bare}", "main", tmp_path).watch_paths()[0] == (bare / "refs/heads/main").resolve()
