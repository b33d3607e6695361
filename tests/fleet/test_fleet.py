"""The sandbox's fleet for real: moto's group, an engine per instance over ssh, HAProxy following the target group.

The session's ``sandbox up`` made the fleet (popcon-prod-asg, 2 instances);
these tests scale it, deregister and terminate, and put it back as they
found it (desired 2, every target registered). The last test takes the
fleet down and brings it up again.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from reconciler.cli import main
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet import haproxy, instance, lifecycle, netns
from reconciler.sandbox.fleet.layout import BRIDGE, GROUP, NETNS_PREFIX, VETH_PREFIX, FleetFiles, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo, up
from reconciler.sandbox.processes import Clock

pytestmark = pytest.mark.world
IMAGE = "popcon/frontend:1.4.0"
TEST_LABEL = "reconciler.test/fleet"


def _aws(sandbox: SandboxInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=sandbox.moto_url, region_name=sandbox.region,  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def _until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def _instances(sandbox: SandboxInfo) -> dict[str, str]:
    """The group's running instances: id -> private IP."""
    asg, ec2 = _aws(sandbox, "autoscaling"), _aws(sandbox, "ec2")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    found = {}
    for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] == "running":
                found[i["InstanceId"]] = i["PrivateIpAddress"]
    return found


def _target_group(sandbox: SandboxInfo) -> str:
    groups = _aws(sandbox, "elbv2").describe_target_groups(Names=[GROUP.target_group])["TargetGroups"]
    return str(groups[0]["TargetGroupArn"])


def _engine_answers(ip: str) -> bool:
    try:
        api = connect(docker_url(ip), timeout=10)
    except Exception:  # not yet: ssh refused, no route
        return False
    try:
        return bool(api.version().get("Version"))
    finally:
        api.close()


@pytest.fixture(scope="module")
def fleet(sandbox: SandboxInfo) -> Iterator[dict[str, str]]:
    """The group's instances (id -> IP), each running the frontend on port 3000, all registered."""
    assert sandbox.load_balancer == "http://127.0.0.1:8080"
    found = _until("2 running instances", lambda: len(_instances(sandbox)) == 2 and _instances(sandbox))

    def prepare(ip: str) -> None:
        _until(f"the engine of {ip}", lambda: _engine_answers(ip))
        client = docker.DockerClient(base_url=docker_url(ip), use_ssh_client=True, timeout=60)
        try:
            for old in client.containers.list(all=True, filters={"label": TEST_LABEL}):
                old.remove(force=True)
            client.containers.run(f"{sandbox.registry}/{IMAGE}", detach=True, ports={"3000/tcp": 3000},
                                  labels={TEST_LABEL: "1"}, name="frontend")  # fmt: skip
        finally:
            client.close()

    with ThreadPoolExecutor() as pool:
        list(pool.map(prepare, found.values()))
    yield found
    for ip in _instances(sandbox).values():
        client = docker.DockerClient(base_url=docker_url(ip), use_ssh_client=True, timeout=60)
        try:
            for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
                c.remove(force=True)
        finally:
            client.close()


def _hosts_behind_lb(lb: str, n: int = 8) -> Counter[str]:
    """Which containers answered n requests through the load balancer (their host names)."""
    seen: Counter[str] = Counter()
    for _ in range(n):
        status, body = _get(f"{lb}/")
        seen[body.splitlines()[1] if status == 200 else f"HTTP {status}"] += 1
    return seen


def test_up_made_what_terraform_would_have(sandbox: SandboxInfo) -> None:
    group = _aws(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])
    (asg,) = group["AutoScalingGroups"]
    assert (asg["DesiredCapacity"], asg["MinSize"], asg["MaxSize"]) == (2, 1, 4)
    elbv2 = _aws(sandbox, "elbv2")
    (tg,) = elbv2.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"]
    assert asg["TargetGroupARNs"] == [tg["TargetGroupArn"]]
    assert (tg["Port"], tg["HealthCheckPath"]) == (3000, "/health")
    (alb,) = elbv2.describe_load_balancers(Names=[GROUP.load_balancer])["LoadBalancers"]
    assert tg["LoadBalancerArns"] == [alb["LoadBalancerArn"]]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    alarms = _aws(sandbox, "cloudwatch").describe_alarms(AlarmNames=list(GROUP.alarms))["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == ["popcon-prod-5xx", "popcon-prod-unhealthy-hosts"]
    ips = _instances(sandbox).values()
    assert all(ip.startswith("10.90.1.") for ip in ips)
    events: list[str] = []
    again = up(sandbox.state_dir, on_event=events.append)  # idempotent: nothing started, nothing created
    assert (again.started, again.seeded) == ((), ())
    assert any("popcon-prod-asg and its load balancer, target group and alarms present" in e for e in events)


def test_each_instance_engine_answers_over_ssh_and_serves_on_its_private_ip(fleet: dict[str, str]) -> None:
    for instance_id, ip in fleet.items():
        api = connect(docker_url(ip), timeout=30)
        try:
            assert api.info()["DockerRootDir"].endswith(f"/fleet/{instance_id}")
        finally:
            api.close()
        assert _until(f"{ip}:3000", lambda ip=ip: _get(f"http://{ip}:3000/health") == (200, "ok\n"))


def test_compose_over_ssh_pulls_from_the_registry_and_publishes_on_the_private_ip(
    fleet: dict[str, str], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    ip = sorted(fleet.values())[0]
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  frontend:\n    image: {sandbox.registry}/popcon/frontend:1.4.0\n    ports: ['3001:3000']\n"
    )
    env = {**os.environ, "DOCKER_HOST": docker_url(ip)}
    env.pop("DOCKER_CONTEXT", None)

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "compose", "-p", "fleettest", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    up = compose("up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        assert _until("the compose service", lambda: _get(f"http://{ip}:3001/health") == (200, "ok\n"))
        status, body = _get(f"http://{ip}:3001/")
        assert status == 200 and body.startswith("popcon-frontend 1.4.0")
        version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert version.returncode == 0 and version.stdout.strip(), version.stderr
    finally:
        down = compose("down")
    assert down.returncode == 0, down.stderr


def _ssh_children() -> list[str]:
    """This process's ssh children, zombies included (pid and state)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:
            continue
        comm, fields = rest.rsplit(") ", 1)
        state, ppid = fields.split()[:2]
        if comm == "ssh" and int(ppid) == os.getpid():
            found.append(f"{pid} {state}")
    return found


def test_closing_an_ssh_client_reaps_its_ssh_processes(fleet: dict[str, str]) -> None:
    """docker-py leaves each connection's ssh unreaped and its pipes open; the driver's connect fixes that."""
    ip = sorted(fleet.values())[0]
    assert _ssh_children() == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api = connect(docker_url(ip), timeout=30)
        api.containers()
        api.images()
        api.close()
        gc.collect()
    assert _ssh_children() == []  # each connection's ssh reaped: not even a zombie
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_the_load_balancer_follows_the_target_group_and_drains(sandbox: SandboxInfo, fleet: dict[str, str]) -> None:
    lb = sandbox.load_balancer
    _until("both targets in service", lambda: len(_hosts_behind_lb(lb)) == 2)
    elbv2, arn = _aws(sandbox, "elbv2"), _target_group(sandbox)
    leaving, staying = sorted(fleet)
    stop, failures, answers = threading.Event(), Counter[str](), Counter[str]()

    def load() -> None:  # about 20 requests a second through the load balancer
        while not stop.is_set():
            status, body = _get(f"{lb}/")
            if status == 200:
                answers[body.splitlines()[1]] += 1
            else:
                failures[f"HTTP {status}: {body[:80]}"] += 1
            time.sleep(0.05)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": leaving}])
        only = _until("only the staying target answers", lambda: len(seen := _hosts_behind_lb(lb, 6)) == 1 and seen)
        time.sleep(1.0)
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": leaving, "Port": 3000}])
        _until("both targets in service again", lambda: len(_hosts_behind_lb(lb)) == 2)
    finally:
        stop.set()
        loader.join()
    assert not failures, failures
    assert len(answers) == 2 and sum(answers.values()) > 20
    staying_host = _get(f"http://{fleet[staying]}:3000/")[1].splitlines()[1]
    assert list(only) == [staying_host]


def _run_frontend(sandbox: SandboxInfo, ip: str, tag: str) -> None:
    """Replace the test's frontend container on the instance by one of ``tag``."""
    client = docker.DockerClient(base_url=docker_url(ip), use_ssh_client=True, timeout=60)
    try:
        for old in client.containers.list(all=True, filters={"label": TEST_LABEL}):
            old.remove(force=True)
        client.containers.run(f"{sandbox.registry}/popcon/frontend:{tag}", detach=True, ports={"3000/tcp": 3000},
                              labels={TEST_LABEL: "1"}, name="frontend")  # fmt: skip
    finally:
        client.close()


def test_a_broken_target_fails_its_health_checks_and_gets_no_requests(
    sandbox: SandboxInfo, fleet: dict[str, str]
) -> None:
    lb = sandbox.load_balancer
    broken_ip, healthy_ip = sorted(fleet.values())
    _until("both targets in service", lambda: len(_hosts_behind_lb(lb)) == 2)
    _run_frontend(sandbox, broken_ip, "broken")
    try:
        health = f"http://{broken_ip}:3000/health"
        status, body = _until("the broken container", lambda: (got := _get(health))[0] and got)
        assert status == 500 and "fails its health check on purpose" in body
        status, body = _get(f"http://{broken_ip}:3000/")
        assert status == 200 and body.startswith("popcon-frontend broken")
        healthy_host = _get(f"http://{healthy_ip}:3000/")[1].splitlines()[1]
        _until("only the healthy target behind the load balancer",
               lambda: _hosts_behind_lb(lb, 10) == Counter({healthy_host: 10}))  # fmt: skip
    finally:
        _run_frontend(sandbox, broken_ip, "1.4.0")
    _until("both targets in service again", lambda: len(_hosts_behind_lb(lb)) == 2)


def test_requests_in_flight_on_a_deregistered_target_finish(sandbox: SandboxInfo, fleet: dict[str, str]) -> None:
    """A target whose GET / takes about 3 s is deregistered while requests are on it: they all end in 200."""
    lb, elbv2, arn = sandbox.load_balancer, _aws(sandbox, "elbv2"), _target_group(sandbox)
    slow_id = sorted(fleet)[0]
    slow_ip = fleet[slow_id]
    client = docker.DockerClient(base_url=docker_url(slow_ip), use_ssh_client=True, timeout=60)
    try:  # its upstream accepts and never answers: index.cgi waits 3 s for it
        for old in client.containers.list(all=True, filters={"label": TEST_LABEL}):
            old.remove(force=True)
        hanging_upstream = "nc -ll -p 9999 -e sleep 30 & exec /bin/sh /app/start.sh"
        client.containers.run(f"{sandbox.registry}/{IMAGE}", detach=True, ports={"3000/tcp": 3000},
                              labels={TEST_LABEL: "1"}, name="frontend",
                              environment={"UPSTREAMS": "http://127.0.0.1:9999"},
                              entrypoint=["/bin/sh", "-c", hanging_upstream])  # fmt: skip
    finally:
        client.close()
    _until("both targets up", lambda: set(_status_servers(sandbox).values()) == {"UP"})
    results: list[tuple[int, str]] = []
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(_get, f"{lb}/") for _ in range(6)]  # round robin: 3 of them on the slow target
        time.sleep(0.3)
        elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": slow_id}])
        try:
            results = [f.result() for f in futures]
            slow = [body for status, body in results if status == 200 and "unreachable" in body]
            assert len(slow) >= 2, results  # requests that were on the slow target while it drained
            _until("the drained target removed from the load balancer",
                   lambda: slow_id not in _status_servers(sandbox), timeout=15)  # fmt: skip
        finally:
            elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": slow_id, "Port": 3000}])
            _run_frontend(sandbox, slow_ip, "1.4.0")
    assert all(status == 200 for status, _ in results), results
    _until("both targets in service again", lambda: len(_hosts_behind_lb(lb)) == 2)


def _status_servers(sandbox: SandboxInfo) -> dict[str, str]:
    """The load balancer's servers and their status (UP, DOWN, DRAIN ...)."""
    return {name: s.status for name, s in haproxy.Runtime().servers(GROUP.target_group).items()}


def test_scale_out_and_replacement_get_engines_and_termination_takes_them_away(
    sandbox: SandboxInfo, fleet: dict[str, str]
) -> None:
    asg = _aws(sandbox, "autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=3)
    try:
        grown = _until("a third instance", lambda: len(_instances(sandbox)) == 3 and _instances(sandbox))
        (new_id,) = set(grown) - set(fleet)
        _until(f"the engine of {new_id}", lambda: _engine_answers(grown[new_id]))
        # terminated without decrementing: moto launches a replacement at once (often on the same address)
        asg.terminate_instance_in_auto_scaling_group(InstanceId=new_id, ShouldDecrementDesiredCapacity=False)
        replaced = _until("a replacement", lambda: len(got := _instances(sandbox)) == 3 and new_id not in got and got)
        (replacement,) = set(replaced) - set(fleet)
        _until(f"{new_id}'s namespace removed", lambda: f"{NETNS_PREFIX}{new_id}" not in netns.namespaces())
        _until(f"the engine of the replacement {replacement}", lambda: _engine_answers(replaced[replacement]))
        asg.terminate_instance_in_auto_scaling_group(InstanceId=replacement, ShouldDecrementDesiredCapacity=True)
        _until(f"{replacement}'s namespace removed", lambda: f"{NETNS_PREFIX}{replacement}" not in netns.namespaces())
        if replaced[replacement] != grown[new_id]:
            assert not instance.ssh_answers(grown[new_id], timeout=0.5)
        assert not instance.ssh_answers(replaced[replacement], timeout=0.5)
        assert _instances(sandbox) == fleet
        assert sorted(n.removeprefix(NETNS_PREFIX) for n in netns.namespaces()) == sorted(fleet)
        _until("the load balancer back to the two instances", lambda: set(_status_servers(sandbox)) == set(fleet))
    finally:
        asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=2)


def test_status_lists_the_endpoints_the_load_balancer_and_the_groups_instances(
    sandbox: SandboxInfo, fleet: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "status", "--format", "json", "--state-dir", str(sandbox.state_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["moto"]["address"] == sandbox.moto_url and report["registry"]["address"] == sandbox.registry
    assert report["load_balancer"]["url"] == sandbox.load_balancer and report["load_balancer"]["running"]
    (group,) = report["groups"]
    assert (group["name"], group["desired"], group["min"], group["max"]) == (GROUP.name, 2, 1, 4)
    listed = {i["id"]: (i["private_ip"], i["docker_url"], i["lifecycle_state"], i["engine_running"])
              for i in group["instances"]}  # fmt: skip
    assert listed == {i: (ip, f"ssh://root@{ip}", "InService", True) for i, ip in fleet.items()}
    assert sorted(group["target_groups"][0]["registered"]) == sorted(fleet)
    assert {s["instance_id"] for s in report["load_balancer"]["servers"]} == set(fleet)
    assert Path(report["fleet"]["ssh"]["key"]).stat().st_mode & 0o777 == 0o600
    assert main(["sandbox", "status", "--state-dir", str(sandbox.state_dir)]) == 0
    text = capsys.readouterr().err
    assert f"load balancer: {sandbox.load_balancer} running" in text
    for instance_id, ip in fleet.items():
        assert f"{instance_id} {ip} InService/Healthy ssh://root@{ip} (engine running, registered)" in text


def _fleet_leftovers(state_dir: Path) -> list[str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    left = [f"namespace {n}" for n in netns.namespaces()]
    left += [f"link {line.split(':')[1]}" for line in links.splitlines() if VETH_PREFIX in line or BRIDGE in line]
    left += [f"rule {r}" for r in rules.splitlines() if BRIDGE in r or "10.90." in r]
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = stat.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in cmd for mark in ("/run/reconciler-sandbox/fleet", f"{state_dir}/fleet", "fleet.agent")):
            left.append(f"process {stat.parent.name}: {cmd[:100]}")
    return left


def test_fleet_down_leaves_nothing_and_up_brings_it_back(sandbox: SandboxInfo) -> None:
    files = FleetFiles(sandbox.state_dir)
    events: list[str] = []
    lifecycle.down(sandbox.state_dir, sandbox.moto_url, True, Clock(), events.append)
    assert _fleet_leftovers(sandbox.state_dir) == []
    assert not Path("/etc/ssh/ssh_config.d/reconciler-sandbox.conf").exists()
    assert lifecycle.agent_pid(files) is None
    assert (
        _aws(sandbox, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])[
            "AutoScalingGroups"
        ]
        == []
    )
    again = up(sandbox.state_dir, on_event=events.append)
    assert "fleet agent" in again.started and "load balancer" in again.started
    assert len(_instances(sandbox)) == 2
