"""Replacing an instance that cannot be reconciled, over the sandbox's fleet for real (moto's group, an
engine per instance over ssh, HAProxy as the ALB): an instance whose engine cannot be reached stays a
plan problem for two ticks of the loop (each a process of its own: the count is in the state store) and
is marked unhealthy at the third (SetInstanceHealth); the group replaces it, and the next ticks converge
the replacement and put it in service, with no failed request through the load balancer. A health check
that fails on one instance (its port refused by a firewall rule in its namespace, mid-rollout) while it
passed on the other marks that instance instead of rolling back, and the next ticks finish the rollout on
its replacement. With every instance failing the same health check (a broken tag), nothing is marked: the
revision is rolled back.

The engine is made unreachable by moving its socket aside on the instance (``docker system
dial-stdio``, which the ssh session runs, then finds no daemon), which the fleet agent does not undo
(it restarts processes that exited); the socket is put back if the instance is still there at the end.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from e2e.gitops import git
from e2e.rollout.fleetkit import Load, aws, instances, until
from e2e.rollout.fleetscale import DESIRED, in_service, lb_servers
from e2e.rollout.kit import Deployed, commit, make_repo, read_until, registered, serving, set_tag, start, tick
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.sandbox.fleet.layout import GROUP, InstanceEngine
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.state import ConditionType, Reason, Result

pytestmark = pytest.mark.world

TICKS = 3  # spec.rollout.replaceUnhealthy.unreachableTicks (the default)


def group_health(sandbox: SandboxInfo) -> dict[str, tuple[str, str]]:
    """Instance id -> (lifecycle state, health status) as the group reports them."""
    asg = aws(sandbox, "autoscaling")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
    return {i["InstanceId"]: (i["LifecycleState"], i["HealthStatus"]) for i in group["Instances"]}


@contextlib.contextmanager
def unreachable_engine(instance: str, ip: str) -> Iterator[None]:
    """The instance's engine socket moved aside (ssh answers, the engine does not); back afterwards if the
    instance still exists (a terminated one's run dir is removed with it)."""
    socket = InstanceEngine(instance, ip).socket
    aside = socket.with_name("docker.sock.aside")
    socket.rename(aside)
    try:
        yield
    finally:
        if aside.exists():
            aside.rename(socket)


PORT_RULES = (("INPUT",), ("FORWARD",))  # to the port itself, or DNAT'd to the container publishing it


@contextlib.contextmanager
def port_refused(instance: str, ip: str, port: int) -> Iterator[None]:
    """Connections to ``port`` on the instance refused (a firewall rule in its namespace): its health check
    fails there while it passes elsewhere; the rules go when the instance does, or at the end."""
    netns = InstanceEngine(instance, ip).netns
    rule = ["-p", "tcp", "--dport", str(port), "-j", "REJECT", "--reject-with", "tcp-reset"]
    for (chain,) in PORT_RULES:
        subprocess.run(["ip", "netns", "exec", netns, "iptables", "-I", chain, *rule], check=True)
    try:
        yield
    finally:
        for (chain,) in PORT_RULES:
            subprocess.run(["ip", "netns", "exec", netns, "iptables", "-D", chain, *rule], check=False,
                           capture_output=True)  # fmt: skip


def replaced(sandbox: SandboxInfo, instance: str) -> None:
    """Once the group reports ``instance`` Unhealthy: wait for Auto Scaling to replace it. AWS takes an
    Unhealthy instance out of its target groups (draining), terminates it and launches another; a
    sandbox whose AWS front predates that behaviour only records the status (moto), so after 20 s the
    test does what Auto Scaling does: DeregisterTargets, the load balancer no longer sending to it,
    then TerminateInstanceInAutoScalingGroup without decrementing (moto launches the replacement)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and instance in group_health(sandbox):
        time.sleep(0.5)
    if instance in group_health(sandbox):
        elb = aws(sandbox, "elbv2")
        arn = elb.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]["TargetGroupArn"]
        elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
        until(f"the load balancer no longer sending to {instance}", lambda: instance not in in_service(), timeout=60)
        aws(sandbox, "autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=instance, ShouldDecrementDesiredCapacity=False
        )


def test_an_instance_whose_engine_stays_unreachable_is_replaced_and_the_fleet_converges(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    clone = make_repo(prod.env, tmp_path / "git")
    assert tick(prod.env, clone).returncode == 0  # in sync: the commit recorded as applied
    store = SqliteStateStore.in_state_dir(prod.env.state_dir)
    one, two = fleet
    ips = instances(sandbox)
    with unreachable_engine(one, ips[one]):
        first = tick(prod.env, clone)
        assert first.returncode == 1, first.stderr
        assert f"instance:{one}: engine unreachable for 1 tick" in first.stderr, first.stderr
        assert store.read_status("prod").unreachable == {one: 1}
        for n in range(2, TICKS):  # the same plan: not retried (the revision failed), but counted
            tick(prod.env, clone)
            assert store.read_status("prod").unreachable == {one: n}
        assert group_health(sandbox)[one] == ("InService", "Healthy")  # not yet
        marking = tick(prod.env, clone)
        assert f"instance:{one}/replace" in marking.stderr, marking.stderr
        health = group_health(sandbox).get(one)
        assert health is None or health[1] == "Unhealthy" or health[0].startswith("Terminat"), health
        assert group_health(sandbox)[two] == ("InService", "Healthy")  # one at a time: the other untouched
        status = store.read_status("prod")
        degraded = status.condition(ConditionType.DEGRADED)
        assert degraded is not None and degraded.reason == Reason.INSTANCE_REPLACED, degraded
        assert f"mark {one} unhealthy: engine unreachable for {TICKS} ticks in a row" in degraded.message
        marked = store.history("prod", 1)[0]
        assert marked.actions.get("mark_unhealthy") == 1 and marked.result is Result.PARTIAL
        replaced(sandbox, one)

    (new,) = until("a replacement launched", lambda: set(group_health(sandbox)) - {one, two}, timeout=120)
    until(f"the load balancer no longer sending to {one}", lambda: one not in in_service(), timeout=60)
    with Load() as load:
        # the loop's next ticks: the replacement may still be starting (Pending, held by a launch hook, its
        # engine not answering yet); a tick that finds it serving converges it and puts it in service
        outputs = []
        for _ in range(8):
            converged = tick(prod.env, clone)
            outputs.append(converged.stderr[-2000:])
            if converged.returncode == 0 and in_service() == {new, two}:
                break
            time.sleep(3)
        assert in_service() == {new, two}, (lb_servers(), "\n".join(outputs))
        until(f"the load balancer serving {prod.old}", lambda: serving(prod.old), timeout=30)
    assert load.failed == [], load.failed[:5]
    assert set(group_health(sandbox).values()) == {("InService", "Healthy")} and len(group_health(sandbox)) == DESIRED
    targets = registered(sandbox)
    assert targets.get(new) == "healthy" and targets.get(two) == "healthy", (targets, lb_servers())
    status = store.read_status("prod")
    assert status.unreachable == {}  # gone from the group: forgotten
    assert status.last_applied is not None and status.last_applied.sha == git(clone, "rev-parse", "HEAD")
    assert prod.plan().returncode == 0


def test_every_instance_failing_the_same_health_check_is_rolled_back_and_none_replaced(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    clone = make_repo(prod.env, tmp_path / "git")
    good = git(clone, "rev-parse", "HEAD")
    assert tick(prod.env, clone).returncode == 0
    before = group_health(sandbox)
    set_tag(clone / "environments" / "prod", "frontend", "broken")
    commit(clone, "frontend broken")
    with Load() as load:
        failed = tick(prod.env, clone)
        until(f"the load balancer serving {prod.old} again", lambda: serving(prod.old), timeout=30)
    assert failed.returncode == 1, failed.stderr
    assert load.failed == [], load.failed[:5]
    assert "mark_unhealthy" not in failed.stderr and "/replace" not in failed.stderr
    assert group_health(sandbox) == before  # the same instances, all Healthy: none marked
    store = SqliteStateStore.in_state_dir(prod.env.state_dir)
    degraded = store.read_status("prod").condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.reason == Reason.ROLLED_BACK
    assert all("mark_unhealthy" not in entry.actions for entry in store.history("prod", 3))
    set_tag(clone / "environments" / "prod", "frontend", prod.old)
    commit(clone, f"frontend {prod.old} again")
    assert tick(prod.env, clone).returncode == 0
    assert store.read_status("prod").last_applied.sha != good  # type: ignore[union-attr]


def test_a_health_check_failing_on_one_instance_where_it_passed_on_another_replaces_it(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    clone = make_repo(prod.env, tmp_path / "git")
    assert tick(prod.env, clone).returncode == 0
    store = SqliteStateStore.in_state_dir(prod.env.state_dir)
    one, two = fleet  # the rollout takes one, then two
    ips = instances(sandbox)
    set_tag(clone / "environments" / "prod", "frontend", prod.new)
    bump = commit(clone, f"frontend {prod.new}")
    with Load() as load:
        proc = start("run", "--repo", str(clone.parent / "remote.git"), "--path", "environments/prod", "--sandbox",
                     "--state-dir", str(prod.env.state_dir), "--once", "--log-format", "text")  # fmt: skip
        read_until(proc, rf"instance:{two}/leave: done")  # one passed its gate and re-joined; two is out
        with port_refused(two, ips[two], 3000):
            assert proc.stderr is not None
            rest = proc.stderr.read()
            assert proc.wait(timeout=600) == 1, rest
            proc.stderr.close()
        assert f"instance:{two}/replace" in rest, rest
        health = group_health(sandbox).get(two)
        assert health is None or health[1] == "Unhealthy" or health[0].startswith("Terminat"), health
        assert serving(prod.new)  # not rolled back: one serves the new revision
        status = store.read_status("prod")
        degraded = status.condition(ConditionType.DEGRADED)
        assert degraded is not None and degraded.reason == Reason.INSTANCE_REPLACED, degraded
        assert f"health check failed while the same revision passed on {one}" in degraded.message
        marked = store.history("prod", 1)[0]
        assert marked.actions == {"mark_unhealthy": 1} and "rather than rolling" in marked.reason
        replaced(sandbox, two)
        (new,) = until("a replacement launched", lambda: set(group_health(sandbox)) - {one, two}, timeout=120)
        outputs = []
        for _ in range(8):  # the loop's next ticks retry the revision (its plan changed) and converge the new one
            again = tick(prod.env, clone)
            outputs.append(again.stderr[-2000:])
            if again.returncode == 0 and in_service() == {one, new}:
                break
            time.sleep(3)
        assert in_service() == {one, new}, (lb_servers(), "\n".join(outputs))
        until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
    assert load.failed == [], load.failed[:5]
    status = store.read_status("prod")
    assert status.last_applied is not None and status.last_applied.sha == bump
    set_tag(prod.root, "frontend", prod.new)  # the package's copy, as the commit the loop applied
    assert prod.plan().returncode == 0
