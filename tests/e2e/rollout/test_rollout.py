"""Rolling deploys over the sandbox's fleet for real: moto's Auto Scaling group, an engine per instance
over ssh, HAProxy as the ALB on http://127.0.0.1:8080, under a bounded request loop of about 20 requests
a second through it. A tag bump rolls one instance at a time with zero failed requests; a broken tag
fails its health gate on the first instance and the loop rolls it back to the last applied commit, the
other instance never touched, zero failed requests; the loop does not retry the revision; a fixing
commit deploys."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from e2e.conftest import Env, EnvFactory
from e2e.fleetkit import Load, aws, clear_port, engines, fleet_copy, running, serving, until
from e2e.gitops import git
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.sandbox.fleet.layout import GROUP
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.state import ConditionType, Reason, Result

pytestmark = pytest.mark.world
SECRET = {"POPCON_PROD_DB_PASSWORD": "pr0d-" + os.urandom(4).hex()}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", *args]
    environ = {**os.environ, "NO_COLOR": "1", **SECRET}
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=environ,
                          timeout=900, check=False)  # fmt: skip


@pytest.fixture()
def fleet(sandbox: SandboxInfo) -> Iterator[dict[str, docker.APIClient]]:
    if not sandbox.load_balancer:
        pytest.fail("the sandbox's fleet is not running (RECONCILER_SANDBOX_FLEET=0?)", pytrace=False)
    with engines(sandbox) as found:
        for api in found.values():
            clear_port(api)
        yield found
        for api in found.values():
            clear_port(api)


@pytest.fixture()
def prod(make_env: EnvFactory, fleet: dict[str, docker.APIClient]) -> Env:
    return fleet_copy(make_env("prod"))


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


def test_a_tag_bump_rolls_over_the_fleet_one_instance_at_a_time(prod: Env, fleet: dict[str, docker.APIClient]) -> None:
    first = cli("apply", str(prod.root), "--sandbox", "--state-dir", str(prod.state_dir), "--auto-approve")
    assert first.returncode == 0, first.stderr + first.stdout
    until("the load balancer serving 1.4.0", lambda: serving("1.4.0"))
    before = {i: running(api, prod)["frontend"]["Id"] for i, api in fleet.items()}

    set_tag(prod.root, "frontend", "1.5.0")
    with Load() as load:
        bump = cli("apply", str(prod.root), "--sandbox", "--state-dir", str(prod.state_dir), "--auto-approve")
        until("the load balancer serving 1.5.0", lambda: serving("1.5.0"), timeout=30)
    assert bump.returncode == 0, bump.stderr + bump.stdout
    assert len(load.results) >= 100 and load.failed == [], load.failed[:5]
    assert load.versions == {"1.4.0", "1.5.0"}

    one, two = fleet  # oldest first, as the rollout takes them
    assert steps(bump.stdout) == [
        f"instance:{one}/leave", f"service:{one}/popcon/frontend", f"instance:{one}/health", f"instance:{one}/join",
        f"instance:{two}/leave", f"service:{two}/popcon/frontend", f"instance:{two}/health", f"instance:{two}/join",
    ]  # fmt: skip
    for instance, api in fleet.items():
        frontend = running(api, prod)["frontend"]
        assert frontend["Id"] != before[instance] and frontend["State"] == "running"
    again = cli("plan", str(prod.root), "--sandbox", "--state-dir", str(prod.state_dir), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def make_repo(env: Env, root: Path) -> Path:
    """A git repository (bare remote) holding the environment at environments/prod; returns its URL."""
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
               "--state-dir", str(env.state_dir), "--once")  # fmt: skip


def test_a_broken_tag_fails_its_gate_and_the_loop_rolls_it_back(
    prod: Env, fleet: dict[str, docker.APIClient], tmp_path: Path
) -> None:
    clone = make_repo(prod, tmp_path / "git")
    good = git(clone, "rev-parse", "HEAD")
    first = tick(prod, clone)
    assert first.returncode == 0, first.stderr
    until("the load balancer serving 1.4.0", lambda: serving("1.4.0"))
    one, two = fleet
    untouched = running(fleet[two], prod)["frontend"]["Id"]

    set_tag(clone / "environments" / "prod", "frontend", "broken")
    bad = commit(clone, "frontend broken")
    with Load() as load:
        failed = tick(prod, clone)
        until("the load balancer serving 1.4.0 again", lambda: serving("1.4.0"), timeout=30)
    assert failed.returncode == 1, failed.stderr
    assert load.failed == [] and load.versions == {"1.4.0"}, load.failed[:5]
    assert running(fleet[two], prod)["frontend"]["Id"] == untouched  # never touched
    assert running(fleet[one], prod)["frontend"]["State"] == "running"

    store = SqliteStateStore.in_state_dir(prod.state_dir)
    status = store.read_status("prod")
    degraded = status.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.reason == Reason.ROLLED_BACK
    assert f"rolled back to {good[:12]}" in degraded.message
    assert f"instance:{one}/health" in degraded.message and "HTTP 500" in degraded.message
    assert status.last_applied is not None and status.last_applied.sha == good
    rollout, rollback = store.history("prod", 2)[::-1]
    assert (
        rollout.revision is not None
        and rollout.revision.sha == bad
        and rollout.result in (Result.PARTIAL, Result.FAILED)
    )
    assert rollback.revision is not None and rollback.revision.sha == good and rollback.result is Result.APPLIED

    skipped = tick(prod, clone)  # the revision is not tried again
    assert "failed before" in skipped.stderr, skipped.stderr
    assert running(fleet[one], prod)["frontend"]["State"] == "running"

    set_tag(clone / "environments" / "prod", "frontend", "1.5.0")
    commit(clone, "frontend 1.5.0")
    fixed = tick(prod, clone)
    assert fixed.returncode == 0, fixed.stderr
    until("the load balancer serving 1.5.0", lambda: serving("1.5.0"), timeout=30)


def start(*args: str) -> subprocess.Popen[str]:
    """The CLI in a process group of its own (killed with -9 by the tests), stderr as lines."""
    argv = [sys.executable, "-m", "reconciler.cli", *args]
    environ = {**os.environ, "NO_COLOR": "1", **SECRET}
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=environ, start_new_session=True)  # fmt: skip


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


def registered(sandbox: SandboxInfo) -> dict[str, str]:
    """Instance id -> its state in the prod target group (as moto reports it)."""
    elb = aws(sandbox, "elbv2")
    arn = elb.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]["TargetGroupArn"]
    found = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}


@pytest.mark.parametrize(
    "point",
    [
        r"instance:{one}/leave: done",  # after deregistering
        r"service:{one}/popcon/frontend: recreating",  # during the recreate
        r"instance:{one}/health: done",  # before registering again
    ],
)
def test_a_kill_9_mid_rollout_is_healed_by_the_next_apply(
    prod: Env, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, point: str
) -> None:
    flags = ("--sandbox", "--state-dir", str(prod.state_dir))
    first = cli("apply", str(prod.root), *flags, "--auto-approve")
    assert first.returncode == 0, first.stderr + first.stdout
    until("the load balancer serving 1.4.0", lambda: serving("1.4.0"))
    one, two = fleet
    set_tag(prod.root, "frontend", "1.5.0")
    with Load() as load:
        proc = start("apply", str(prod.root), *flags, "--auto-approve")
        try:
            read_until(proc, point.format(one=one))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.stderr is not None:
                proc.stderr.close()
        healed = cli("apply", str(prod.root), *flags, "--auto-approve")
        assert healed.returncode == 0, healed.stderr + healed.stdout
        until("the load balancer serving 1.5.0", lambda: serving("1.5.0"), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert set(registered(sandbox).values()) == {"healthy"} and set(registered(sandbox)) >= {one, two}
    assert running(fleet[one], prod)["frontend"]["State"] == "running"
    again = cli("plan", str(prod.root), *flags, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.fixture()
def alarms(sandbox: SandboxInfo) -> Iterator[Any]:
    cw = aws(sandbox, "cloudwatch")
    yield cw
    for name in ("popcon-prod-5xx", "popcon-prod-unhealthy-hosts"):
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test over")


@pytest.mark.parametrize("when", ["after the first batch", "during the bake"])
def test_an_alarm_rolls_the_rollout_back(
    prod: Env, fleet: dict[str, docker.APIClient], alarms: Any, tmp_path: Path, when: str
) -> None:
    clone = make_repo(prod, tmp_path / "git")
    good = git(clone, "rev-parse", "HEAD")
    assert tick(prod, clone).returncode == 0
    until("the load balancer serving 1.4.0", lambda: serving("1.4.0"))
    one = next(iter(fleet))
    set_tag(clone / "environments" / "prod", "frontend", "1.5.0")
    commit(clone, "frontend 1.5.0")
    pattern = rf"instance:{one}/join: done" if when == "after the first batch" else r"fleet:web/bake: watching"
    with Load() as load:
        proc = start("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
                     "--state-dir", str(prod.state_dir), "--once")  # fmt: skip
        read_until(proc, pattern)
        alarms.set_alarm_state(AlarmName="popcon-prod-5xx", StateValue="ALARM", StateReason="5xx > 10 (test)")
        assert proc.stderr is not None
        rest = proc.stderr.read()
        assert proc.wait(timeout=600) == 1, rest
        proc.stderr.close()
        until("the load balancer serving 1.4.0 again", lambda: serving("1.4.0"), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert "alarm in ALARM" in rest and "popcon-prod-5xx" in rest
    status = SqliteStateStore.in_state_dir(prod.state_dir).read_status("prod")
    degraded = status.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.reason == Reason.ROLLED_BACK and "popcon-prod-5xx" in degraded.message
    assert status.last_applied is not None and status.last_applied.sha == good
    for api in fleet.values():
        assert running(api, prod)["frontend"]["State"] == "running"
