"""The drivers and steps of a rotation against Auto Scaling as AWS behaves (a private moto behind the sandbox's
AWS front, tests/sandbox/asgkit.py; the shared fleet is not touched, no fleet lock): template versions and
the launch hook read once per process, the group's template set, the hook created, an instance replaced
(terminated without decrementing, its replacement held in Pending:Wait, converged, CONTINUE), a replacement
that cannot be converged abandoned, the observation of a fleet's launch state."""

from __future__ import annotations

import boto3
import pytest

from reconciler.core.actions import Change
from reconciler.core.errors import ReconcilerError
from reconciler.core.fleet import FleetSpec, RolloutSpec
from reconciler.core.launch_observed import HOOK_MISSING, HOOK_PRESENT
from reconciler.core.plan import Unit
from reconciler.core.rollout_actions import TargetGroupRef
from reconciler.core.rotation import LaunchHookSpec, LaunchTemplateRef
from reconciler.core.rotation_actions import CompleteLaunch, PutLaunchHook, RotateInstance, SetLaunchTemplate
from reconciler.drivers.aws.fleet import FleetClients, FleetReader, FleetWriter, make_fleet_clients
from reconciler.drivers.aws.lifecycle import LaunchMemo, LaunchReader, LaunchWriter, wanted_hook
from reconciler.drivers.probe import ProbeResult
from reconciler.executor.rollout import FleetDrivers, run_rollout_unit
from reconciler.observe.rotation import observe_launch
from reconciler.sandbox.layout import REGION
from tests.sandbox.asgkit import AMI_2, Group, until

pytestmark = pytest.mark.world


def clients_of(g: Group) -> FleetClients:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return make_fleet_clients(session, REGION, g.url)


def version_2(g: Group) -> None:
    g.aws("ec2").create_launch_template_version(
        LaunchTemplateName=g.template, SourceVersion="1", LaunchTemplateData={"ImageId": AMI_2}
    )


def drivers(c: FleetClients, converge: object = None) -> FleetDrivers:
    def never(_url: str, _timeout: float) -> ProbeResult:
        return ProbeResult(False, "not asked")

    return FleetDrivers(
        reader=FleetReader(c), writer=FleetWriter(c), probe=never, poll=0.1,
        launches=LaunchWriter(c), converge=converge,  # type: ignore[arg-type]
    )  # fmt: skip


def test_versions_and_the_hook_are_read_once_per_process(g: Group) -> None:
    c = clients_of(g)
    memo = LaunchMemo()
    reader = LaunchReader(c, memo=memo)
    assert reader.version_exists(g.template, "1") and not reader.version_exists(g.template, "2")
    assert not reader.version_exists("no-such-template", "1")
    assert memo.versions == {(g.template, "1")}  # only what exists is kept
    want = wanted_hook("reconciler-launch", 300)
    assert reader.hook(g.name, "reconciler-launch", want) is None
    LaunchWriter(c).put_hook(g.name, want)
    assert reader.hook(g.name, "reconciler-launch", want) == want
    assert memo.hooks == {(g.name, "reconciler-launch"): want}
    other = LaunchReader(c, memo=memo)  # a later tick of the same process: no call (the clients are gone)
    c.close()
    assert other.version_exists(g.template, "1") and other.hook(g.name, "reconciler-launch", want) == want


def test_the_launch_state_observed(g: Group) -> None:
    c = clients_of(g)
    reader = LaunchReader(c, memo=LaunchMemo())
    described = g.describe()
    fleet = FleetSpec(g.name, "ssh://root@{privateIp}", LaunchTemplateRef(g.template, "2"))
    rollout = RolloutSpec(launch_hook=LaunchHookSpec("reconciler-launch", 300.0))
    seen = observe_launch(reader, fleet, rollout, described, ())
    assert seen.template == f"{g.template}:1" and seen.missing_version == f"{g.template} 2"
    assert seen.hook == HOOK_MISSING
    version_2(g)
    LaunchWriter(c).put_hook(g.name, wanted_hook("reconciler-launch", 300))
    seen = observe_launch(reader, fleet, rollout, described, ())
    assert seen.missing_version == "" and seen.hook == HOOK_PRESENT
    c.close()


def test_the_group_steps(g: Group) -> None:
    c = clients_of(g)
    version_2(g)
    d = drivers(c)
    template = SetLaunchTemplate(
        change=Change("fleet:web/launch_template", None, None), reason="", fleet="web", batch=0, group=g.name,
        template=g.template, version="2", previous="1",
    )  # fmt: skip
    hook = PutLaunchHook(
        change=Change("fleet:web/hook/reconciler-launch", None, None), reason="", fleet="web", batch=0,
        group=g.name, hook="reconciler-launch", timeout=120.0,
    )  # fmt: skip
    results: list[tuple[str, str]] = []
    unit = Unit(id="rollout:web/template", actions=(hook, template))
    status = run_rollout_unit(unit, d, lambda a, s, m: results.append((s, m)))
    assert status == "done", results
    assert g.describe()["LaunchTemplate"]["Version"] == "2"
    hooks = g.aws("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=g.name)["LifecycleHooks"]
    assert [(h["LifecycleHookName"], h["HeartbeatTimeout"], h["DefaultResult"]) for h in hooks] == [
        ("reconciler-launch", 120, "ABANDON")
    ]
    assert run_rollout_unit(unit, d, lambda a, s, m: None) == "done"  # safe to repeat
    c.close()


def rotate_of(g: Group, instance: str, hook: str | None = "reconciler-launch") -> RotateInstance:
    return RotateInstance(
        change=Change(f"instance:{instance}", None, None), reason="", fleet="web", batch=1, group=g.name,
        instance=instance, template=g.template, before="1", after="2", hook=hook, launch_timeout=30.0,
    )  # fmt: skip


def test_an_instance_is_replaced_and_its_replacement_converged_before_it_serves(g: Group) -> None:
    c = clients_of(g)
    version_2(g)
    g.aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=g.name, LaunchTemplate={"LaunchTemplateName": g.template, "Version": "2"}
    )
    LaunchWriter(c).put_hook(g.name, wanted_hook("reconciler-launch", 300))
    before = g.states()
    old = sorted(before)[0]
    seen: list[tuple[str, str, set[str]]] = []

    def converge(fleet: str, instance: str) -> str:
        """What the composition root does, reduced to what the group sees: the new instance is held out
        of the target group while it is converged, then CONTINUE (a CompleteLaunch step) and healthy."""
        seen.append((g.states()[instance], g.versions()[instance], g.registered()))
        step = CompleteLaunch(
            change=Change(f"instance:{instance}/launch", None, None), reason="", fleet=fleet, batch=0,
            group=g.name, instance=instance, hook="reconciler-launch", result="CONTINUE",
            target_groups=(TargetGroupRef(g.target_group, "tg", 3000),),
        )  # fmt: skip
        done: list[tuple[str, str]] = []
        assert run_rollout_unit(Unit(id="x", actions=(step,)), d, lambda a, s, m: done.append((s, m))) == "done", done
        return "converged"

    d = drivers(c, converge)
    results: list[tuple[str, str]] = []
    status = run_rollout_unit(Unit(id="rollout:web/1/rotate", actions=(rotate_of(g, old),)), d,
                              lambda a, s, m: results.append((s, m)))  # fmt: skip
    assert status == "done", results
    ((state, version, registered),) = seen
    new = next(iter(set(g.states()) - set(before)))
    assert state == "Pending:Wait" and version == "2" and new not in registered
    assert old not in g.states() and g.states()[new] == "InService" and new in g.registered()
    assert len(g.states()) == len(before)  # capacity kept
    assert f"replaced by {new}" in results[0][1]
    c.close()


def test_a_replacement_that_cannot_be_converged_is_abandoned(g: Group) -> None:
    c = clients_of(g)
    LaunchWriter(c).put_hook(g.name, wanted_hook("reconciler-launch", 300))
    before = set(g.states())
    old = sorted(before)[0]
    failed: list[str] = []

    def converge(_fleet: str, instance: str) -> str:
        failed.append(instance)
        raise ReconcilerError("stack popcon on it: the frontend never became healthy")

    results: list[tuple[str, str]] = []
    status = run_rollout_unit(Unit(id="rollout:web/1/rotate", actions=(rotate_of(g, old),)), drivers(c, converge),
                              lambda a, s, m: results.append((s, m)))  # fmt: skip
    assert status == "failed" and results[0][0] == "failed"
    assert "was not converged" in results[0][1] and "abandoned" in results[0][1]
    (bad,) = failed
    until("the abandoned instance gone", lambda: bad not in g.states())
    assert bad not in g.registered()
    c.close()


def test_no_replacement_fails_the_step(g: Group) -> None:
    """A group that launches nothing (scaled to zero here): the step fails after the launch timeout."""
    c = clients_of(g)
    g.aws("autoscaling").update_auto_scaling_group(AutoScalingGroupName=g.name, MinSize=0, DesiredCapacity=0)
    until("scaled in", lambda: not g.states())
    ticks = iter(range(0, 10_000, 10))
    base = drivers(c, lambda _f, _i: "never")
    d = FleetDrivers(reader=base.reader, writer=base.writer, probe=base.probe, launches=base.launches,
                     converge=base.converge, clock=lambda: float(next(ticks)), sleep=lambda _s: None)  # fmt: skip
    results: list[tuple[str, str]] = []
    unit = Unit(id="rollout:web/1/rotate", actions=(rotate_of(g, "i-00000000000000dead"),))
    assert run_rollout_unit(unit, d, lambda a, s, m: results.append((s, m))) == "failed"
    assert "no replacement launched by" in results[0][1]
    c.close()
