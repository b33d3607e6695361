"""Rolling deploys while the fleet's size matters, over the sandbox's fleet for real: a tag bump over
3 instances one at a time, then over 4 half at a time (never more out of the load balancer than the
batch, sampled from HAProxy during the rollout); instances launched and terminated in the middle of
a rollout (the terminated one skipped and reported, the new one deployed by the next apply);
minHealthy with one instance already failing its health check (the rollout fixes that one first
and never takes the last healthy one out; a minHealthy that cannot be kept is a plan problem).

Each test puts the group back as it found it: desired 2, the instances it added terminated (the
load balancer back to the group's instances)."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from e2e.rollout.fleetkit import Load, instances, running, until
from e2e.rollout.fleetscale import Watch, back_to_two, engine_answers, in_service, scale_to, terminate
from e2e.rollout.kit import Deployed, read_until, serving, set_tag, start, steps
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world


def one_at_a_time(ids: list[str]) -> list[str]:
    return [
        step
        for i in ids
        for step in (
            f"instance:{i}/leave",
            f"service:{i}/popcon/frontend",
            f"instance:{i}/health",
            f"instance:{i}/join",
        )
    ]


def test_three_instances_one_at_a_time_then_four_half_at_a_time(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo
) -> None:
    keep = list(fleet)
    try:
        three = list(scale_to(sandbox, 3))
        assert three[:2] == keep
        joined = prod.apply()  # the new instance gets what the others run
        assert joined.returncode == 0, joined.stderr + joined.stdout
        until("three instances in service", lambda: in_service() == set(three), timeout=30)

        set_tag(prod.root, "frontend", prod.new)
        with Load() as load, Watch().running() as lb:
            bump = prod.apply()
            assert bump.returncode == 0, bump.stderr + bump.stdout
            until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
        assert len(load.results) >= 100 and load.failed == [], load.failed[:5]
        assert load.versions == {prod.old, prod.new}
        assert steps(bump.stdout) == one_at_a_time(three)  # deregistered before recreated, registered after healthy
        assert lb.most_out(set(three)) == 1

        four = list(scale_to(sandbox, 4))
        assert four[:3] == three
        prod.edit_rollout(batch="50%")
        joined = prod.apply()
        assert joined.returncode == 0, joined.stderr + joined.stdout
        until("four instances in service", lambda: in_service() == set(four), timeout=30)

        set_tag(prod.root, "frontend", prod.old)
        with Load() as load, Watch().running() as lb:
            half = prod.apply()
            assert half.returncode == 0, half.stderr + half.stdout
            until(f"the load balancer serving {prod.old}", lambda: serving(prod.old), timeout=30)
        assert load.failed == [] and load.versions == {prod.old, prod.new}, load.failed[:5]
        first, second = set(four[:2]), set(four[2:])
        outs = {o for o in lb.out(set(four)) if o}
        assert lb.most_out(set(four)) == 2 and first in outs and second in outs  # two out at once, never more
        assert all(o <= first or o <= second for o in outs)  # and only of one batch
        done = steps(half.stdout)
        last_of_first = max(done.index(f"instance:{i}/join") for i in first)
        assert all(done.index(f"instance:{i}/leave") > last_of_first for i in second)
        for i in four:
            assert done.index(f"instance:{i}/leave") < done.index(f"service:{i}/popcon/frontend")
            assert done.index(f"instance:{i}/health") < done.index(f"instance:{i}/join")
    finally:
        back_to_two(sandbox, keep)


def test_instances_launched_and_terminated_mid_rollout(
    prod: Deployed, fleet: dict[str, docker.APIClient], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    one, two = fleet
    keep = [one]
    set_tag(prod.root, "frontend", prod.new)
    try:
        proc = start("apply", str(prod.root), *prod.flags, "--auto-approve", stdout=tmp_path / "apply.out")
        read_until(proc, rf"instance:{one}/join: joining")  # batch 1 about to re-join; {two} not touched yet
        terminate(sandbox, two)  # scaled in before its batch (desired 1)
        grown = scale_to(sandbox, 2)  # and one launched now: not in this rollout's plan
        (three,) = set(grown) - {one}
        keep.append(three)
        assert proc.stderr is not None
        rest = proc.stderr.read()
        code = proc.wait(timeout=600)
        proc.stderr.close()
        out = (tmp_path / "apply.out").read_text()
        assert code == 0, rest + out  # not a failed rollout
        assert f"instance {two} left its Auto Scaling group during the rollout" in out, out
        assert f"service:{one}/popcon/frontend" in steps(out)
        assert running(fleet[one], prod.env)["frontend"]["State"] == "running"
        assert three not in out  # planned before it was launched

        until("the group's two instances", lambda: set(instances(sandbox)) == {one, three}, timeout=60)
        until(f"the engine of {three}", lambda: engine_answers(instances(sandbox)[three]), timeout=60)
        follow = prod.apply()  # the next run deploys the new instance
        assert follow.returncode == 0, follow.stderr + follow.stdout
        assert f"service:{three}/popcon/frontend" in steps(follow.stdout)
        until(f"the load balancer serving {prod.new} from both", lambda: in_service() == {one, three}, timeout=30)
        assert serving(prod.new, count=20)
        again = prod.plan()
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        back_to_two(sandbox, keep)


def test_min_healthy_never_takes_the_last_healthy_instance_out(
    prod: Deployed, fleet: dict[str, docker.APIClient]
) -> None:
    one, two = fleet
    fleet[two].stop(running(fleet[two], prod.env)["frontend"]["Id"], timeout=1)  # two fails its health checks
    until(f"the load balancer taking {two} out", lambda: in_service() == {one}, timeout=30)
    set_tag(prod.root, "frontend", prod.new)

    prod.edit_rollout(minHealthy=2)  # cannot be kept while two is down: nothing in service is touched
    refused = prod.plan()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "minHealthy 2" in refused.stdout + refused.stderr

    prod.edit_rollout(minHealthy=1)
    with Load() as load, Watch().running() as lb:
        bump = prod.apply()
        assert bump.returncode == 0, bump.stderr + bump.stdout
        until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
    assert load.failed == [] and load.versions == {prod.old, prod.new}, load.failed[:5]
    assert lb.samples and all(lb.samples)  # never no instance in service
    done = steps(bump.stdout)
    assert done.index(f"instance:{two}/join") < done.index(f"instance:{one}/leave")  # the failing one first
    assert in_service() == {one, two}
