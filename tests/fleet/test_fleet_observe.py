"""A fleet observed in moto (server mode, the sandbox's): the group's instances become the hosts, named by
instance id and reached at the template's URL; target groups and alarms read; an idle observation costs
one DescribeAutoScalingGroups, one DescribeTargetHealth per target group and one DescribeAlarms; a group,
target group or alarm that does not exist is a plan problem naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.mototfleet import REGION, MotoFleet, client, moto_fleet
from fleet.test_fleet_spec import FLEET_ENV, make_env
from reconciler.core.fleet_observed import ObservedFleet
from reconciler.core.model import DesiredState
from reconciler.drivers.aws.clients import CallCounter
from reconciler.drivers.aws.fleet import FleetClients, FleetReader
from reconciler.drivers.readonly import read_only_boto3
from reconciler.observe.fleet import observe_fleets
from reconciler.planner import expand_fleets
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment


@pytest.fixture
def fleet(sandbox: SandboxInfo) -> MotoFleet:
    with moto_fleet(sandbox.moto_url) as made:
        yield made


def fleet_text(fleet: MotoFleet, *, alarms: list[str] | None = None, tg: str | None = None) -> str:
    text = FLEET_ENV.replace("popcon-prod-asg", fleet.group).replace("BATCH", "1").replace("SERVICE", "frontend")
    text = text.replace("TARGET_GROUP", tg or fleet.target_group_arn)
    text = text.replace("[popcon-prod-5xx, popcon-prod-unhealthy-hosts]", f"[{', '.join(alarms or fleet.alarms)}]")
    return text.replace("    region: ap-northeast-2\n", f"    region: {REGION}\n    endpointUrl: {fleet.moto_url}\n")


def desired_of(tmp_path: Path, text: str) -> DesiredState:
    return build_desired(load_environment(make_env(tmp_path, text)), {"POPCON_PROD_DB_PASSWORD": "s3cret"}.get)


def reader(moto_url: str, counter: CallCounter) -> FleetReader:
    made = [client(s, moto_url) for s in ("autoscaling", "ec2", "elbv2", "cloudwatch")]
    counter.attach(*made)
    return FleetReader(FleetClients(*(read_only_boto3(c) for c in made)))


def test_the_groups_instances_are_the_hosts(tmp_path: Path, fleet: MotoFleet) -> None:
    desired = desired_of(tmp_path, fleet_text(fleet))
    counter = CallCounter()
    observed = observe_fleets(reader(fleet.moto_url, counter), desired)
    web = observed["web"]
    assert isinstance(web, ObservedFleet) and web.error is None and web.group == fleet.group
    ids = fleet.instance_ids()
    assert sorted(i.id for i in web.serving) == ids and web.desired_capacity == 2
    ec2 = client("ec2", fleet.moto_url)
    ips = {
        i["InstanceId"]: i["PrivateIpAddress"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert web.docker_urls == {i: f"ssh://ec2-user@{ips[i]}" for i in ids}
    (tg,) = web.target_groups
    assert tg.name == fleet.target_group_name and tg.port == 3000 and tg.deregistration_delay == 5.0
    assert [a.name for a in web.alarms] == fleet.alarms and not web.missing_alarms

    expanded = expand_fleets(desired, observed)
    assert [h.name for h in expanded.hosts] == [i.id for i in web.serving]
    assert all(h.member_of == "web" and h.fleet is None for h in expanded.hosts)
    assert expanded.stacks[0].hosts == tuple(i.id for i in web.serving)
    assert {h.docker_host for h in expanded.hosts} == set(web.docker_urls.values())


def test_an_idle_observation_costs_the_floor(tmp_path: Path, fleet: MotoFleet) -> None:
    desired = desired_of(tmp_path, fleet_text(fleet))
    counter = CallCounter()
    observe_fleets(reader(fleet.moto_url, counter), desired)
    counter.reset()
    # the loop's next tick opens its clients anew: addresses and target group settings are known to the process
    observe_fleets(reader(fleet.moto_url, counter), desired)
    assert dict(counter.calls) == {
        ("autoscaling", "DescribeAutoScalingGroups"): 1,
        ("elasticloadbalancing", "DescribeTargetHealth"): 1,
        ("monitoring", "DescribeAlarms"): 1,
    }


def test_instances_not_in_service_are_not_hosts(tmp_path: Path, fleet: MotoFleet) -> None:
    desired = desired_of(tmp_path, fleet_text(fleet))
    first, second = fleet.instance_ids()
    asg = fleet.aws("autoscaling")
    asg.enter_standby(AutoScalingGroupName=fleet.group, InstanceIds=[first], ShouldDecrementDesiredCapacity=True)
    asg.set_instance_health(InstanceId=second, HealthStatus="Unhealthy")
    observed = observe_fleets(reader(fleet.moto_url, CallCounter()), desired)
    web = observed["web"]
    states = {i.id: i.state for i in web.instances}
    assert states[first] == "Standby" and states[second] == "InService, Unhealthy"
    assert web.serving == ()
    expanded = expand_fleets(desired, observed)
    assert expanded.hosts == () and expanded.stacks[0].hosts == ()


def run_plan(env: Path, state: Path) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "POPCON_PROD_DB_PASSWORD": "s3cret", "RECONCILER_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "plan", str(env), "--state-dir", str(state), "--format", "json"],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip


def test_missing_group_target_group_and_alarm_are_plan_problems(tmp_path: Path, fleet: MotoFleet) -> None:
    missing_tg = fleet.target_group_arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    text = fleet_text(fleet, alarms=[*fleet.alarms, "no-such-alarm"], tg=missing_tg)
    # engines that are surely not there (a socket path): the plan reads them and says so, no network involved
    text = text.replace("ssh://ec2-user@{privateIp}", "unix:///nonexistent/{instanceId}.sock")
    done = run_plan(make_env(tmp_path / "a", text), tmp_path / "state")
    assert done.returncode == 1, done.stderr
    problems = {p["address"]: p["message"] for p in json.loads(done.stdout)["problems"]}
    assert "CloudWatch alarm no-such-alarm does not exist" in problems["alarm:no-such-alarm"]
    assert f"target group {missing_tg} does not exist" in problems[f"targetgroup:{fleet.target_group_name}"]
    assert "Traceback" not in done.stderr
    for instance in fleet.instance_ids():  # the instances are the hosts: each one read (and unreachable)
        assert f"host:{instance}" in problems or any(a.startswith(f"stack:{instance}/") for a in problems), problems

    text = fleet_text(fleet).replace(f"fromAutoScalingGroup: {fleet.group}", "fromAutoScalingGroup: no-such-asg")
    done = run_plan(make_env(tmp_path / "b", text), tmp_path / "state")
    assert done.returncode == 1, done.stderr
    problems = {p["address"]: p["message"] for p in json.loads(done.stdout)["problems"]}
    assert problems["fleet:web"] == "Auto Scaling group no-such-asg: Auto Scaling group not found"


def test_status_shows_the_fleet_and_its_instances_as_hosts(tmp_path: Path, fleet: MotoFleet) -> None:
    text = fleet_text(fleet).replace("ssh://ec2-user@{privateIp}", "unix:///nonexistent/{instanceId}.sock")
    env = make_env(tmp_path, text)
    environ = {**os.environ, "POPCON_PROD_DB_PASSWORD": "s3cret"}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "status", str(env), "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    assert f"Fleet web (Auto Scaling group {fleet.group}):" in done.stdout
    for instance in fleet.instance_ids():
        assert instance in done.stdout
        assert f"Stack popcon on host {instance}" in done.stdout
    assert f"{fleet.target_group_name}: healthy" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_rotation_reads_once_per_process(tmp_path: Path, fleet: MotoFleet) -> None:
    """With launchTemplate and launchHook: the wanted version is checked once (DescribeLaunchTemplateVersions,
    only while something runs another version), the hook until it is found as wanted; then an idle
    observation costs the floor again."""
    template = fleet.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[fleet.group])
    name = template["AutoScalingGroups"][0]["LaunchTemplate"]["LaunchTemplateName"]
    text = fleet_text(fleet).replace(
        '      variables: {FRONTEND_PORT: "3000"}\n',
        f'      variables: {{FRONTEND_PORT: "3000"}}\n      launchTemplate: {{name: {name}, version: "1"}}\n',
    )
    desired = desired_of(tmp_path, text + "    launchHook: {timeout: 2m}\n")
    counter = CallCounter()
    first = observe_fleets(reader(fleet.moto_url, counter), desired)["web"]
    assert first.launch.template == f"{name}:$Default" and first.launch.hook == "missing"
    assert first.launch.missing_version == ""
    rotation_calls = {k: n for k, n in counter.calls.items() if k[1] in ("DescribeLaunchTemplateVersions",
                                                                          "DescribeLifecycleHooks")}  # fmt: skip
    assert rotation_calls == {
        ("ec2", "DescribeLaunchTemplateVersions"): 1,
        ("autoscaling", "DescribeLifecycleHooks"): 1,
    }
    fleet.aws("autoscaling").put_lifecycle_hook(
        AutoScalingGroupName=fleet.group, LifecycleHookName="reconciler-launch",
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout=120, DefaultResult="ABANDON",
    )  # fmt: skip
    counter.reset()
    assert observe_fleets(reader(fleet.moto_url, counter), desired)["web"].launch.hook == "present"
    assert ("ec2", "DescribeLaunchTemplateVersions") not in counter.calls  # known to exist
    counter.reset()
    observe_fleets(reader(fleet.moto_url, counter), desired)
    assert ("autoscaling", "DescribeLifecycleHooks") not in counter.calls  # found as wanted: not asked again
