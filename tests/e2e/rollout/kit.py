"""Helpers of the rollout tests over the sandbox's fleet (their fixtures: conftest.py). Test helper.

One copy of environments/prod for the package's tests (``shared``) is deployed once and shared: each test
starts from it converged (``prod``: its files as they were, the frontend on the version the fleet
serves, an ``apply`` that changes nothing unless the last test left something behind) and rolls
the frontend to the other version (1.4.0 <-> 1.5.0). A first deploy of prod over ssh takes about
40 s; redeploying it for every test would cost minutes. The copy waits less than prod does (a 3 s
bake, the health gate every second) so that the tests stay short; what they test does not
depend on it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.conftest import Env
from e2e.gitops import git
from e2e.rollout.fleetkit import Load, aws
from reconciler.sandbox.fleet.layout import GROUP
from reconciler.sandbox.lifecycle import SandboxInfo

SECRET = {"POPCON_PROD_DB_PASSWORD": "pr0d-" + os.urandom(4).hex()}
VERSIONS = ("1.4.0", "1.5.0")
ALARMS = GROUP.alarms


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", *args]
    environ = {**os.environ, "NO_COLOR": "1", **SECRET}
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environ,
                          timeout=900, check=False)  # fmt: skip


def start(*args: str, stdout: Path | None = None) -> subprocess.Popen[str]:
    """The CLI in a process group of its own (killed with -9 by the tests), stderr as lines, stdout
    into the file ``stdout`` (or nowhere)."""
    argv = [sys.executable, "-m", "reconciler.cli", *args]
    environ = {**os.environ, "NO_COLOR": "1", **SECRET}
    with open(stdout or os.devnull, "w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=environ, start_new_session=True)  # fmt: skip


def kill(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 300) -> list[str]:
    """Lines of ``proc``'s stderr up to the first that matches ``pattern`` (searched)."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(lines))


def set_tag(env_dir: Path, image: str, tag: str) -> None:
    path = env_dir / "images.yaml"
    text, count = re.subn(rf"({image}: \{{repository: popcon/{image}, tag: )\"[^\"]+\"", rf'\g<1>"{tag}"',
                          path.read_text())  # fmt: skip
    assert count == 1, path.read_text()
    path.write_text(text)


def steps(output: str) -> list[str]:
    """The rollout's finished steps and the frontend's changes, in the order the apply did them."""
    found = re.findall(r"^  done +((?:instance:\S+/(?:leave|health|join))|service:\S+/popcon/frontend)", output, re.M)
    return list(found)


def registered(sandbox: SandboxInfo) -> dict[str, str]:
    """Instance id -> its state in the prod target group (as the AWS front reports it)."""
    elb = aws(sandbox, "elbv2")
    arn = elb.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]["TargetGroupArn"]
    found = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}


def make_repo(env: Env, root: Path) -> Path:
    """A git repository (bare remote) holding the environment at environments/prod; returns its clone."""
    bare, clone = root / "remote.git", root / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    git(clone, "config", "user.email", "ops@example.com")
    git(clone, "config", "user.name", "Ops")
    git(clone, "checkout", "-q", "-b", "main")
    shutil.copytree(env.root, clone / "environments" / "prod")
    commit(clone, "pop-con prod")
    return clone


def commit(clone: Path, message: str) -> str:
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", "origin", "HEAD:main")
    return git(clone, "rev-parse", "HEAD")


def tick(env: Env, clone: Path) -> subprocess.CompletedProcess[str]:
    return cli("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
               "--state-dir", str(env.state_dir), "--once", "--log-format", "text")  # fmt: skip


def serving(version: str, count: int = 10) -> bool:
    """The load balancer answers ``count`` requests in a row from ``version``."""
    probe = Load()
    return all(probe._one() == (200, version) for _ in range(count))


@dataclass
class Shared:
    """The module's deployed copy of prod and the version its fleet serves."""

    env: Env
    baseline: dict[Path, str]  # the copy's files as made
    version: str = VERSIONS[0]


@dataclass(frozen=True)
class Deployed:
    """What a test starts from: prod converged on ``old``; it rolls ``new`` out."""

    env: Env
    old: str
    new: str

    @property
    def root(self) -> Path:
        return self.env.root

    @property
    def flags(self) -> tuple[str, ...]:
        return ("--sandbox", "--state-dir", str(self.env.state_dir))

    def apply(self) -> subprocess.CompletedProcess[str]:
        return cli("apply", str(self.root), *self.flags, "--auto-approve")

    def plan(self) -> subprocess.CompletedProcess[str]:
        return cli("plan", str(self.root), *self.flags, "--detailed-exitcode")

    def edit_rollout(self, **fields: Any) -> None:
        self.env.copy.edit("Environment", None, lambda spec: spec["rollout"].update(fields))
