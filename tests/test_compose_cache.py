"""Compose's offline check is not repeated for inputs that passed before (plan, apply, every loop
tick), and its cache holds no secret. Real Compose v2, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spec.spec_helpers import copy_valid

from reconciler.app.compose_check import CheckCache, check_compose_files
from reconciler.core.errors import SpecError
from reconciler.core.model import DesiredState
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

REPO = Path(__file__).resolve().parent.parent
SECRET = "cache-s3cret-value-42"


class Counting:
    def __init__(self) -> None:
        self.configs = 0

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "config" in cmd:
            self.configs += 1
        return subprocess.run(cmd, **kwargs)


@pytest.fixture()
def env_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dev"
    shutil.copytree(REPO / "environments" / "dev", folder)
    return folder


def desired(folder: Path) -> DesiredState:
    return build_desired(load_environment(folder), lambda _name: SECRET)


def test_a_passed_check_is_not_run_again_until_its_inputs_change(env_dir: Path, tmp_path: Path) -> None:
    counting = Counting()
    runner = ComposeRunner(locate_compose(), run=counting)
    cache_file = tmp_path / "state" / "compose-checks.json"

    def check() -> None:
        check_compose_files(desired(env_dir), lambda: runner, CheckCache(cache_file))

    check()
    assert counting.configs == 1
    check()
    assert counting.configs == 1  # same inputs: not run again
    assert SECRET not in cache_file.read_text() and cache_file.stat().st_mode & 0o077 == 0

    compose = env_dir / "docker-compose.yml"
    compose.write_text(compose.read_text() + "\n# a comment changes the bytes\n")
    check()
    assert counting.configs == 2
    params = env_dir / "parameters.yaml"
    params.write_text(params.read_text().replace("DB_NAME: popcon", "DB_NAME: popcon2"))
    check()
    assert counting.configs == 3  # a value Compose interpolates changed
    (env_dir / "extra.env").write_text("A=1\n")
    check()
    assert counting.configs == 3  # a file Compose does not read appeared: still cached


SHARED_DB = """\
services:
  mysql:
    image: popcon/mysql:8.0
    environment:
      MYSQL_ROOT_PASSWORD: ${DB_ROOT_PASSWORD}
      MYSQL_DATABASE: ${DB_NAME:-popcon}
    healthcheck:
      test: ["CMD", "true"]
  redis:
    extends: {file: base.yaml, service: cache}
"""
SHARED_BASE = """\
services:
  cache:
    image: popcon/redis:7.2
    healthcheck:
      test: ["CMD", "true"]
"""
COMPOSE = """\
include:
  - ../shared/db.yaml
services:
  frontend:
    image: popcon/frontend:1.4.0
    ports: ["3000:80"]
    depends_on: [backend]
  backend:
    image: popcon/backend:2.1.0
    env_file: [app.env]
    volumes:
      - ~/popcon-cache:/cache
      - /srv/popcon/logs:/logs
    depends_on:
      mysql: {condition: service_healthy}
      redis: {condition: service_healthy}
"""


def test_included_extended_and_env_files_are_cached_and_each_change_checks_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with include, ../, ~/ and an absolute bind mount is cached (it was never cached before),
    and a change in any file Compose reads for it (or in HOME, which ~ names) checks it again."""
    env = copy_valid(tmp_path / "env", **{"docker-compose.yml": COMPOSE})
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "db.yaml").write_text(SHARED_DB)
    (shared / "base.yaml").write_text(SHARED_BASE)
    (shared / ".env").write_text("DB_NAME=popcon\n")
    (env / "app.env").write_text("LOG_LEVEL=info\n")
    counting = Counting()
    runner = ComposeRunner(locate_compose(), run=counting)
    cache_file = tmp_path / "state" / "compose-checks.json"

    def check() -> int:
        check_compose_files(desired(env), lambda: runner, CheckCache(cache_file))
        return counting.configs

    assert (check(), check()) == (1, 1)
    (env / "notes.txt").write_text("not read by Compose\n")
    assert check() == 1
    expected = 1
    for changed in (shared / "db.yaml", shared / "base.yaml", shared / ".env", env / "app.env"):
        changed.write_text(changed.read_text() + "# changed\n")
        expected += 1
        assert (check(), check()) == (expected, expected), changed
    monkeypatch.setenv("HOME", str(tmp_path / "another-home"))
    assert check() == expected + 1  # ~/popcon-cache now names another folder
    (env / "app.env").unlink()
    with pytest.raises(SpecError, match=r"app\.env"):  # a missing env_file is never a cached pass
        check()


def test_a_refused_file_is_refused_every_time(env_dir: Path, tmp_path: Path) -> None:
    counting = Counting()
    runner = ComposeRunner(locate_compose(), run=counting)
    compose = env_dir / "docker-compose.yml"
    text = compose.read_text()
    assert '"127.0.0.1:3000:3000"' in text
    compose.write_text(text.replace('"127.0.0.1:3000:3000"', '"127.0.0.1:banana:3000"'))
    for expected in (1, 2):
        with pytest.raises(SpecError, match="Compose refuses this file"):
            check_compose_files(desired(env_dir), lambda: runner, CheckCache(tmp_path / "c.json"))
        assert counting.configs == expected


def _validate(argv: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``reconciler validate`` in a fresh interpreter, HOME at ``home``, no state dir in the environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("XDG_STATE_HOME", "RECONCILER_STATE_DIR")}
    code = "import sys; from reconciler.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, "validate", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**base, "HOME": str(home), **env})  # fmt: skip


@pytest.mark.parametrize("how", ["--state-dir", "RECONCILER_STATE_DIR"])
def test_validate_caches_its_checks_in_the_state_dir(how: str, env_dir: Path, tmp_path: Path) -> None:
    """``validate --state-dir`` (or RECONCILER_STATE_DIR) keeps the cache of the Compose checks there,
    as the other commands do, and writes nothing under ~/.local/state."""
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir()
    if how == "--state-dir":
        done = _validate([str(env_dir), "--state-dir", str(state)], home)
    else:
        done = _validate([str(env_dir)], home, RECONCILER_STATE_DIR=str(state))
    assert done.returncode == 0, done.stderr
    assert "valid — environment dev" in done.stdout
    assert (state / "compose-checks.json").is_file()
    assert not (home / ".local").exists()


def test_an_env_file_named_by_a_variable_is_cached_under_its_resolved_bytes(tmp_path: Path) -> None:
    """``env_file: ["${DB_HOST}.env"]`` resolves with the stack's values (DB_HOST is a String
    parameter): the check is cached, and editing the file it names (not another) checks again; a
    variable whose value validate does not know (a SecureString) keeps it uncached."""
    valid = (REPO / "tests" / "spec" / "cases" / "_valid" / "docker-compose.yml").read_text()
    frontend = "  frontend:\n    image: popcon/frontend:1.4.0\n"
    assert frontend in valid
    compose = valid.replace(frontend, frontend + '    env_file: ["conf/${DB_HOST}.env"]\n')
    env = copy_valid(tmp_path / "env", **{"docker-compose.yml": compose})
    (env / "conf").mkdir()
    (env / "conf" / "popcon-mysql.env").write_text("LOG_LEVEL=info\n")
    (env / "conf" / "other.env").write_text("LOG_LEVEL=debug\n")
    counting = Counting()
    runner = ComposeRunner(locate_compose(), run=counting)
    cache_file = tmp_path / "state" / "compose-checks.json"

    def check() -> int:
        check_compose_files(desired(env), lambda: runner, CheckCache(cache_file))
        return counting.configs

    (stack,) = desired(env).stacks
    assert env / "conf" / "popcon-mysql.env" in stack.files
    assert (check(), check()) == (1, 1)
    (env / "conf" / "other.env").write_text("LOG_LEVEL=warn\n")
    assert check() == 1  # not the file the variable names
    (env / "conf" / "popcon-mysql.env").write_text("LOG_LEVEL=warn\n")
    assert (check(), check()) == (2, 2)
    compose_file = env / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("${DB_HOST}", "${DB_PASSWORD}"))
    (env / "conf" / f"{SECRET}.env").write_text("LOG_LEVEL=info\n")
    assert (check(), check()) == (3, 4)  # a secret's value names it: never cached
    assert SECRET not in cache_file.read_text()
