"""A git remote of an environment and a running `reconciler run` loop against it. Test helper.

The remote is a bare repository in a temp dir with a clone that commits and
pushes (real git, no mocks); the loop is the real CLI in a subprocess whose
stderr is collected line by line; status and history are read from the
loop's SQLite state store.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2e.conftest import Env
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.state import EnvironmentStatus, HistoryEntry

PATH = "environments/dev"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Remote:
    bare: Path
    clone: Path

    @property
    def env_dir(self) -> Path:
        return self.clone / PATH

    def head(self) -> str:
        return git(self.bare, "rev-parse", "main")

    def commit(self, message: str, edit: Callable[[Path], None]) -> str:
        """Edit the clone's environment folder, commit and push; the new sha."""
        edit(self.env_dir)
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "-q", "-m", message)
        git(self.clone, "push", "-q", "origin", "main")
        return git(self.clone, "rev-parse", "HEAD")


def make_remote(env: Env, root: Path) -> Remote:
    """A bare remote whose environments/dev is ``env``'s folder, first commit pushed."""
    bare, clone = root / "remote.git", root / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    git(clone, "config", "user.email", "dev@example.com")
    git(clone, "config", "user.name", "Dev")
    git(clone, "checkout", "-q", "-b", "main")
    shutil.copytree(env.root, clone / PATH)
    remote = Remote(bare, clone)
    remote.commit("pop-con dev", lambda _d: None)
    return remote


def replace_in(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1))

    return edit


@dataclass
class LoopProcess:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        code = self.proc.wait(timeout=60)
        if self.reader is not None:
            self.reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


def start_loop(env: Env, repo: Path | str, *args: str, extra_env: dict[str, str] | None = None) -> LoopProcess:
    argv = [sys.executable, "-m", "reconciler.cli", "run", "--repo", str(repo), "--path", PATH, "--sandbox",
            "--state-dir", str(env.state_dir), "--log-format", "text", *args]  # fmt: skip
    environ = {**os.environ, "NO_COLOR": "1", **(extra_env or {})}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=environ, start_new_session=True)  # fmt: skip
    loop = LoopProcess(proc)

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            loop.lines.append(line.rstrip("\n"))

    loop.reader = threading.Thread(target=read, daemon=True)
    loop.reader.start()
    return loop


def store(env: Env) -> SqliteStateStore:
    return SqliteStateStore.in_state_dir(env.state_dir)


def status(env: Env) -> EnvironmentStatus:
    return store(env).read_status(env.copy.environment)


def history(env: Env, limit: int = 50) -> list[HistoryEntry]:
    return store(env).history(env.copy.environment, limit)


def wait_until(check: Callable[[], bool], timeout: float = 90, what: str | Callable[[], str] = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout}s: {what() if callable(what) else what}")


def applied(env: Env, sha: str) -> Callable[[], bool]:
    def check() -> bool:
        current = status(env).last_applied
        return current is not None and current.sha == sha

    return check
