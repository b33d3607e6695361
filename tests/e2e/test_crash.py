"""Crash safety: `reconciler apply` killed (the whole process group, SIGKILL: what a cancelled
CI job or a lost machine does) at each step of a first deploy and of a tag bump. The next apply
converges at once (the dead apply's lease is taken over, not waited out), a plan then finds
nothing to do, and nothing is left behind: no container under Compose's temporary name, no
duplicate network, no file holding a secret, no lock."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.conftest import Env, EnvFactory
from e2e.test_cli import run

pytestmark = pytest.mark.world


def apply_until(env: Env, marker: str, *, after: float = 0.0) -> int:
    """Start `reconciler apply`, kill its process group once ``marker`` shows on stderr (plus
    ``after`` seconds); return its PID. Fails if the run ends before the marker."""
    argv = [sys.executable, "-m", "reconciler.cli", "apply", str(env.root), "--sandbox",
            "--state-dir", str(env.state_dir), "--auto-approve"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True, env={**os.environ, "NO_COLOR": "1"})
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if marker in line:
                time.sleep(after)
                os.killpg(proc.pid, signal.SIGKILL)
                break
        else:
            pytest.fail(f"apply ended before {marker!r}:\n{''.join(seen)}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    return proc.pid


def assert_clean_after_recovery(env: Env, killed: int) -> None:
    # the killed apply still holds the lease (15 s TTL), but it ran on this machine and its process
    # is gone: the next apply takes the lease over at once (no --lock-timeout: a live holder would
    # make it refuse) and says so; unless the killed one had done everything (Compose finished the
    # recreate it started): then there is nothing to apply and no lease to take
    again = run(env, "apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    took_over = f"took over the lease of environment dev from reconciler apply {env.root} (pid {killed} on "
    if "No changes." not in again.stdout:
        assert took_over in again.stderr and "): that process is gone" in again.stderr, again.stderr
    settled = run(env, "plan", "--detailed-exitcode")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    project = {"label": f"com.docker.compose.project={env.copy.project}"}
    everything = env.api.containers(all=True, filters=project)
    names = [str(c["Names"][0]).lstrip("/") for c in everything]
    assert len(everything) == 4, names  # one per service, none left over
    assert not any(re.match(r"[0-9a-f]{12}_", name) for name in names), names
    networks = [n["Name"] for n in env.api.networks(filters=project)]
    assert len(networks) == len(set(networks))
    secrets = list(env.secrets.values())
    for path in Path(env.state_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path
            assert path.suffix != ".env"


FIRST_DEPLOY_STEPS = [
    ("parameter:", 0.0),  # as the first parameter is written
    ("popcon/mysql: creating with docker compose", 0.3),  # Compose mid-create
    ("waiting until healthy", 0.5),  # during a health wait
    ("popcon/frontend: creating with docker compose", 0.2),  # the last service
]


@pytest.mark.parametrize(("marker", "after"), FIRST_DEPLOY_STEPS, ids=["parameters", "compose", "health", "last"])
def test_killed_during_a_first_deploy_the_next_apply_converges(
    make_env: EnvFactory, marker: str, after: float
) -> None:
    env = make_env("dev")
    killed = apply_until(env, marker, after=after)
    assert_clean_after_recovery(env, killed)


@pytest.mark.parametrize("after", [0.0, 0.4], ids=["at-once", "mid-recreate"])
def test_killed_during_a_tag_bump_the_next_apply_converges(make_env: EnvFactory, after: float) -> None:
    env = make_env("dev")
    assert run(env, "apply", "--auto-approve").returncode == 0
    env.copy.edit("Images", None, lambda spec: spec["images"]["backend"].__setitem__("tag", "2.1.0"))
    killed = apply_until(env, "popcon/backend: recreating with docker compose", after=after)
    assert_clean_after_recovery(env, killed)
