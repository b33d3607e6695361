"""Instance rotation over the sandbox's fleet for real (moto's group behind the AWS front, which holds a new
instance in Pending:Wait under the launch hook as AWS does, an engine per instance over ssh, HAProxy as
the load balancer): a new launch template version replaces 2, then 3 instances one at a time under a
request loop through the load balancer with no failed request, and the load balancer never sends a
request to an instance whose stacks are not running (every instance HAProxy puts in service is checked
the moment it appears); scale-out converged by one apply; an alarm in the middle of a rotation rolls it
back (the group back on version 1, the replaced instances replaced again); a kill -9 in the middle of a
rotation is finished by the next apply with the capacity back; a version that does not exist is a plan
problem and nothing is touched.

Each test leaves the group as it found it: version 1 on the group and every instance (rotated back
under the same rules), desired 2, no launch hook, every instance registered and healthy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from e2e.gitops import git
from e2e.rollout.fleetkit import Load, aws, until
from e2e.rollout.fleetscale import back_to_two, in_service, lb_servers
from e2e.rollout.kit import Deployed, commit, kill, make_repo, read_until, registered, serving, start, tick
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet.layout import GROUP, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.state import ConditionType, Reason, SqliteStateStore

pytestmark = pytest.mark.world

HOOK = "reconciler-launch"


def group(sandbox: SandboxInfo) -> dict[str, Any]:
    found = aws(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])
    return dict(found["AutoScalingGroups"][0])


def versions(sandbox: SandboxInfo) -> dict[str, tuple[str, str]]:
    """Instance -> (its lifecycle state, its launch template version)."""
    return {
        i["InstanceId"]: (i["LifecycleState"], i.get("LaunchTemplate", {}).get("Version", ""))
        for i in group(sandbox)["Instances"]
    }


def ips(sandbox: SandboxInfo, ids: set[str]) -> dict[str, str]:
    found = aws(sandbox, "ec2").describe_instances(InstanceIds=sorted(ids))["Reservations"]
    return {i["InstanceId"]: i["PrivateIpAddress"] for r in found for i in r["Instances"]}


def frontend_running(ip: str, project: str) -> bool:
    api = connect(docker_url(ip), timeout=30)
    try:
        found = api.containers(filters={"label": f"com.docker.compose.project={project}"})
        return any(c["Labels"].get("com.docker.compose.service") == "frontend" and c["State"] == "running"
                   for c in found)  # fmt: skip
    finally:
        api.close()


@dataclass
class FirstSight:
    """Every instance the load balancer puts in service, checked the moment it first appears: are its
    stacks (the frontend) running there? Sampled about every 0.2 s from HAProxy's servers."""

    sandbox: SandboxInfo
    project: str
    seen: dict[str, bool] = field(default_factory=dict)  # instance -> frontend running when first in service
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def running(self) -> Iterator[FirstSight]:
        def sample() -> None:
            while not self._stop.is_set():
                new = in_service() - set(self.seen)
                for instance, ip in ips(self.sandbox, new).items() if new else ():
                    self.seen[instance] = frontend_running(ip, self.project)
                self._stop.wait(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)

    @property
    def empty(self) -> list[str]:
        return [i for i, ok in self.seen.items() if not ok]


def set_version(prod: Deployed, version: str, hook: bool = True) -> None:
    def edit(spec: Any) -> None:
        spec["hosts"]["web"]["launchTemplate"] = {"name": GROUP.template, "version": version}
        if hook:
            spec["rollout"]["launchHook"] = {"timeout": "3m"}

    prod.env.copy.edit("Environment", None, edit)


def in_sync(sandbox: SandboxInfo, version: str, count: int = 2) -> bool:
    found = versions(sandbox)
    return len(found) == count and all(v == ("InService", version) for v in found.values())


@pytest.fixture()
def rotation(prod: Deployed, sandbox: SandboxInfo) -> Iterator[Deployed]:
    """prod with a version 2 of the sandbox's launch template to rotate to; afterwards the fleet back on
    version 1 (rotated back by an apply), desired 2, the launch hook deleted."""
    ec2 = aws(sandbox, "ec2")
    numbers = {v["VersionNumber"] for v in ec2.describe_launch_template_versions(
        LaunchTemplateName=GROUP.template)["LaunchTemplateVersions"]}  # fmt: skip
    if 2 not in numbers:
        ec2.create_launch_template_version(LaunchTemplateName=GROUP.template, SourceVersion="1",
                                           LaunchTemplateData={"ImageId": "ami-12c6146b"})  # fmt: skip
    keep = [i for i, (state, _) in versions(sandbox).items() if state == "InService"]
    try:
        yield prod
    finally:
        set_version(prod, "1")
        back = prod.apply()
        asg = aws(sandbox, "autoscaling")
        if any(h["LifecycleHookName"] == HOOK for h in asg.describe_lifecycle_hooks(
                AutoScalingGroupName=GROUP.name)["LifecycleHooks"]):  # fmt: skip
            asg.delete_lifecycle_hook(AutoScalingGroupName=GROUP.name, LifecycleHookName=HOOK)
        back_to_two(sandbox, [i for i in versions(sandbox) if i not in keep][:2] or keep)
        assert back.returncode == 0, back.stderr[-3000:] + back.stdout[-3000:]
        until("the group on version 1 with 2 instances", lambda: in_sync(sandbox, "1"), timeout=120)
        until("every instance registered and healthy",
              lambda: set(registered(sandbox).values()) == {"healthy"} and len(registered(sandbox)) == 2,
              timeout=120)  # fmt: skip


def test_two_instances_rotated_under_load(rotation: Deployed, sandbox: SandboxInfo) -> None:
    before = set(versions(sandbox))
    set_version(rotation, "2")
    with Load() as load, FirstSight(sandbox, rotation.env.copy.project).running() as lb:
        applied = rotation.apply()
        assert applied.returncode == 0, applied.stderr[-3000:] + applied.stdout[-3000:]
        until(f"the load balancer serving {rotation.old}", lambda: serving(rotation.old), timeout=30)
    assert len(load.results) >= 100 and load.failed == [], load.failed[:5]
    assert group(sandbox)["LaunchTemplate"]["Version"] == "2"
    now = versions(sandbox)
    assert in_sync(sandbox, "2") and not set(now) & before, now  # both replaced, capacity kept
    assert lb.empty == [], (lb.seen, lb_servers())  # no instance took traffic before its stacks ran
    assert set(now) <= set(lb.seen)
    assert applied.stdout.count("replaced by i-") == 2, applied.stdout[-3000:]
    again = rotation.plan()
    assert again.returncode == 0, again.stdout + again.stderr  # converged: nothing left to do


def test_scale_out_then_three_instances_rotated(rotation: Deployed, sandbox: SandboxInfo) -> None:
    set_version(rotation, "1")  # the hook first, nothing to rotate
    assert rotation.apply().returncode == 0
    aws(sandbox, "autoscaling").set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=3)
    def pending() -> list[str]:
        return [i for i, (state, _) in versions(sandbox).items() if state == "Pending:Wait"]

    held = until("a third instance held by the launch hook", pending, timeout=120)
    assert held[0] not in registered(sandbox)
    with FirstSight(sandbox, rotation.env.copy.project).running() as lb:
        joined = rotation.apply()  # one apply converges it and puts it in service
        assert joined.returncode == 0, joined.stderr[-3000:] + joined.stdout[-3000:]
        until("three instances in service", lambda: len(in_service()) == 3, timeout=60)
        assert f"rollout:web/launch/{held[0]}" in joined.stdout or "new instance" in joined.stdout
        assert in_sync(sandbox, "1", 3)

        set_version(rotation, "2")
        with Load() as load:
            rotated = rotation.apply()
            assert rotated.returncode == 0, rotated.stderr[-3000:] + rotated.stdout[-3000:]
    assert load.failed == [], load.failed[:5]
    assert in_sync(sandbox, "2", 3) and rotated.stdout.count("replaced by i-") == 3
    assert lb.empty == [], (lb.seen, lb_servers())


def test_an_alarm_mid_rotation_rolls_it_back(
    rotation: Deployed, sandbox: SandboxInfo, fleet: dict[str, docker.APIClient], alarms: Any, tmp_path: Path
) -> None:
    clone = make_repo(rotation.env, tmp_path / "git")
    set_version(rotation, "1")
    (clone / "environments" / "prod" / "environment.yaml").write_text((rotation.root / "environment.yaml").read_text())
    good = commit(clone, "the launch hook")
    assert tick(rotation.env, clone).returncode == 0
    first = list(fleet)  # oldest first, as the rotation takes them
    set_version(rotation, "2")
    (clone / "environments" / "prod" / "environment.yaml").write_text((rotation.root / "environment.yaml").read_text())
    commit(clone, "launch template 2")
    with Load() as load:
        proc = start("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
                     "--state-dir", str(rotation.env.state_dir), "--once", "--log-format", "text")  # fmt: skip
        read_until(proc, r"service:i-\w+/popcon/frontend: creating")  # batch 1's replacement being converged
        alarms.set_alarm_state(AlarmName="popcon-prod-5xx", StateValue="ALARM", StateReason="5xx > 10 (test)")
        assert proc.stderr is not None
        rest = proc.stderr.read()
        assert proc.wait(timeout=900) == 1, rest[-4000:]
        proc.stderr.close()
        until(f"the load balancer serving {rotation.old}", lambda: serving(rotation.old), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert "alarm in ALARM after batch 1" in rest, rest[-4000:]
    assert group(sandbox)["LaunchTemplate"]["Version"] == "1"  # set back by the rollback
    assert in_sync(sandbox, "1"), versions(sandbox)  # the replaced one replaced again, capacity kept
    assert first[1] in versions(sandbox)  # the second batch never started
    status = SqliteStateStore.in_state_dir(rotation.env.state_dir).read_status("prod")
    degraded = status.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.reason == Reason.ROLLED_BACK
    assert status.last_applied is not None and status.last_applied.sha == good
    assert git(clone, "rev-parse", "HEAD") != good


def test_a_kill_9_mid_rotation_is_finished_by_the_next_apply(
    rotation: Deployed, sandbox: SandboxInfo, fleet: dict[str, docker.APIClient]
) -> None:
    one = next(iter(fleet))
    set_version(rotation, "2")
    with Load() as load:
        proc = start("apply", str(rotation.root), *rotation.flags, "--auto-approve")
        try:
            read_until(proc, r"service:i-\w+/popcon/frontend: creating")  # the replacement being converged
        finally:
            kill(proc)
        until(f"{one} gone", lambda: one not in versions(sandbox), timeout=60)  # its replacement held by the hook
        healed = rotation.apply()
        assert healed.returncode == 0, healed.stderr[-3000:] + healed.stdout[-3000:]
        until(f"the load balancer serving {rotation.old}", lambda: serving(rotation.old), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert in_sync(sandbox, "2"), versions(sandbox)  # capacity restored, every instance on 2
    assert set(registered(sandbox).values()) == {"healthy"}, registered(sandbox)
    for ip in ips(sandbox, set(versions(sandbox))).values():
        assert frontend_running(ip, rotation.env.copy.project)


def test_a_version_that_does_not_exist_is_a_plan_problem(rotation: Deployed, sandbox: SandboxInfo) -> None:
    before = (group(sandbox)["LaunchTemplate"], versions(sandbox))
    set_version(rotation, "99", hook=False)
    planned = rotation.plan()
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert f"launch template {GROUP.template} 99 does not exist" in planned.stdout + planned.stderr
    applied = rotation.apply()
    assert applied.returncode == 1 and "does not exist" in applied.stdout + applied.stderr
    assert (group(sandbox)["LaunchTemplate"], versions(sandbox)) == before  # nothing touched
    for ip in ips(sandbox, set(versions(sandbox))).values():
        assert frontend_running(ip, rotation.env.copy.project)
