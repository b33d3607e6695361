"""Rolling deploys over the sandbox's fleet for real: moto's Auto Scaling group, an engine per instance
over ssh, HAProxy as the ALB on http://127.0.0.1:8080, under a bounded request loop of about 20 requests
a second through it. A tag bump rolls one instance at a time with zero failed requests; a broken tag
fails its health gate on the first instance and the loop rolls it back to the last applied commit, the
other instance never touched, zero failed requests; the loop does not retry the revision; a fixing
commit deploys. ``kill -9`` at three points of a rollout: the next apply puts the instance left out
back and converges. An alarm after a batch and during the bake: the loop rolls back.

One copy of prod is deployed once for the package and shared (conftest.py, kit.py): each test starts
from it converged and rolls the frontend to the other version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from e2e.gitops import git
from e2e.rollout.fleetkit import Load, running, until
from e2e.rollout.fleetscale import Watch, in_service, lb_servers
from e2e.rollout.kit import (
    Deployed,
    commit,
    kill,
    make_repo,
    read_until,
    registered,
    serving,
    set_tag,
    start,
    steps,
    tick,
)
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.state import ConditionType, Reason, Result

pytestmark = pytest.mark.world


def test_a_tag_bump_rolls_over_the_fleet_one_instance_at_a_time(
    prod: Deployed, fleet: dict[str, docker.APIClient]
) -> None:
    before = {i: running(api, prod.env)["frontend"]["Id"] for i, api in fleet.items()}
    set_tag(prod.root, "frontend", prod.new)
    with Load() as load, Watch().running() as lb:
        bump = prod.apply()
        assert bump.returncode == 0, bump.stderr + bump.stdout
        until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
    assert len(load.results) >= 100 and load.failed == [], load.failed[:5]
    assert load.versions == {prod.old, prod.new}
    assert lb.most_out(set(fleet)) == 1  # never two out at once

    one, two = fleet  # oldest first, as the rollout takes them
    assert steps(bump.stdout) == [
        f"instance:{one}/leave", f"service:{one}/popcon/frontend", f"instance:{one}/health", f"instance:{one}/join",
        f"instance:{two}/leave", f"service:{two}/popcon/frontend", f"instance:{two}/health", f"instance:{two}/join",
    ]  # fmt: skip
    for instance, api in fleet.items():
        frontend = running(api, prod.env)["frontend"]
        assert frontend["Id"] != before[instance] and frontend["State"] == "running"
    again = prod.plan()
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_broken_tag_fails_its_gate_and_the_loop_rolls_it_back(
    prod: Deployed, fleet: dict[str, docker.APIClient], tmp_path: Path
) -> None:
    clone = make_repo(prod.env, tmp_path / "git")
    good = git(clone, "rev-parse", "HEAD")
    first = tick(prod.env, clone)  # in sync already: the loop records the commit as applied
    assert first.returncode == 0, first.stderr
    one, two = fleet
    untouched = running(fleet[two], prod.env)["frontend"]["Id"]

    set_tag(clone / "environments" / "prod", "frontend", "broken")
    bad = commit(clone, "frontend broken")
    with Load() as load:
        failed = tick(prod.env, clone)
        until(f"the load balancer serving {prod.old} again", lambda: serving(prod.old), timeout=30)
    assert failed.returncode == 1, failed.stderr
    assert load.failed == [] and load.versions == {prod.old}, load.failed[:5]
    assert running(fleet[two], prod.env)["frontend"]["Id"] == untouched  # never touched
    assert running(fleet[one], prod.env)["frontend"]["State"] == "running"

    store = SqliteStateStore.in_state_dir(prod.env.state_dir)
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

    skipped = tick(prod.env, clone)  # the revision is not tried again
    assert "failed before" in skipped.stderr, skipped.stderr
    assert running(fleet[one], prod.env)["frontend"]["State"] == "running"

    set_tag(clone / "environments" / "prod", "frontend", prod.new)
    commit(clone, f"frontend {prod.new}")
    fixed = tick(prod.env, clone)
    assert fixed.returncode == 0, fixed.stderr
    until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)


@pytest.mark.parametrize(
    "point",
    [
        r"instance:{one}/leave: done",  # after deregistering
        r"service:{one}/popcon/frontend: recreating",  # during the recreate
        r"instance:{one}/health: done",  # before registering again
    ],
)
def test_a_kill_9_mid_rollout_is_healed_by_the_next_apply(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, point: str
) -> None:
    one, two = fleet
    set_tag(prod.root, "frontend", prod.new)
    with Load() as load:
        proc = start("apply", str(prod.root), *prod.flags, "--auto-approve")
        try:
            read_until(proc, point.format(one=one))
        finally:
            kill(proc)
        assert in_service() == {two}  # the one the rollout was changing is out, only it
        healed = prod.apply()
        assert healed.returncode == 0, healed.stderr + healed.stdout
        until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
    assert load.failed == [], load.failed[:5]
    targets = {i: registered(sandbox).get(i) for i in (one, two)}
    assert targets == {one: "healthy", two: "healthy"}, (targets, lb_servers(), healed.stdout[-4000:])
    assert in_service() == {one, two}
    assert running(fleet[one], prod.env)["frontend"]["State"] == "running"
    again = prod.plan()
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("when", ["after the first batch", "during the bake"])
def test_an_alarm_rolls_the_rollout_back(
    prod: Deployed, fleet: dict[str, docker.APIClient], alarms: Any, tmp_path: Path, when: str
) -> None:
    clone = make_repo(prod.env, tmp_path / "git")
    good = git(clone, "rev-parse", "HEAD")
    assert tick(prod.env, clone).returncode == 0
    one, two = fleet
    untouched = running(fleet[two], prod.env)["frontend"]["Id"]
    set_tag(clone / "environments" / "prod", "frontend", prod.new)
    commit(clone, f"frontend {prod.new}")
    # set while the first instance re-joins: the alarm check after batch 1 finds it (not the one after batch 2)
    pattern = rf"instance:{one}/join: joining" if when == "after the first batch" else r"fleet:web/bake: watching"
    with Load() as load:
        proc = start("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
                     "--state-dir", str(prod.env.state_dir), "--once", "--log-format", "text")  # fmt: skip
        read_until(proc, pattern)
        alarms.set_alarm_state(AlarmName="popcon-prod-5xx", StateValue="ALARM", StateReason="5xx > 10 (test)")
        assert proc.stderr is not None
        rest = proc.stderr.read()
        assert proc.wait(timeout=600) == 1, rest
        proc.stderr.close()
        until(f"the load balancer serving {prod.old} again", lambda: serving(prod.old), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert "alarm in ALARM" in rest and "popcon-prod-5xx" in rest
    if when == "after the first batch":
        assert "alarm in ALARM after batch 1" in rest, rest
        assert running(fleet[two], prod.env)["frontend"]["Id"] == untouched  # the next batch never started
    status = SqliteStateStore.in_state_dir(prod.env.state_dir).read_status("prod")
    degraded = status.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.reason == Reason.ROLLED_BACK and "popcon-prod-5xx" in degraded.message
    assert status.last_applied is not None and status.last_applied.sha == good
    for api in fleet.values():
        assert running(api, prod.env)["frontend"]["State"] == "running"
