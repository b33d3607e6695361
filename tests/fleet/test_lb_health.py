"""Target health through the sandbox's AWS endpoint is the load balancer's: a real HAProxy following a target
group in moto, checking real containers on the fleet's instances (engines over ssh).

The module makes a load balancer of its own (HAProxy on a free port with its own admin socket, and a
follower in a thread, as the fleet agent runs one, declaring what it follows where the AWS front reads it),
a target group of its own on port 3100, and a frontend container on each of the fleet's two instances
published on 3100; the sandbox's own target group and load balancer are left alone. The AWS endpoint
(``sandbox.moto_url``, the front) is asked; moto itself (behind it) says ``healthy`` the moment a target is
registered. Orders are checked, never durations: a request sent after the front said ``healthy`` is
answered by the instance; one answered before the front last said ``initial`` was not.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from reconciler.core.actions import Change
from reconciler.core.rollout_actions import JoinTargetGroups, LeaveTargetGroups, TargetGroupRef
from reconciler.drivers.aws.fleet import FleetClients, FleetReader, FleetWriter
from reconciler.drivers.docker import ssh
from reconciler.drivers.probe import ProbeResult
from reconciler.executor.rollout import FleetDrivers, RolloutFailed, join, leave
from reconciler.sandbox import moto
from reconciler.sandbox.fleet import followed, haproxy, view
from reconciler.sandbox.fleet.balancer import Follower
from reconciler.sandbox.fleet.layout import GROUP, FleetFiles, FleetGroup, docker_url
from reconciler.sandbox.layout import endpoints
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.sandbox.processes import Clock

pytestmark = pytest.mark.world
PORT = 3100  # the test's containers, beside the sandbox's own 3000
LABEL = "reconciler.test/lb-health"


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="ap-northeast-2",  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def _until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)
    return got


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Balancer:
    """The test's load balancer and target group, and the fleet's instances behind it."""

    arn: str
    name: str
    url: str  # http://127.0.0.1:<port>
    runtime: haproxy.Runtime
    instances: dict[str, str]  # instance id -> private IP
    front: Any  # elbv2 on the AWS endpoint (the front)
    moto: Any  # elbv2 on moto itself
    hosts: dict[str, str] = field(default_factory=dict)  # instance id -> its container's host name

    def health(self, client: Any = None, asked: list[str] | None = None) -> dict[str, dict[str, str]]:
        kwargs: dict[str, Any] = {"TargetGroupArn": self.arn}
        if asked:
            kwargs["Targets"] = [{"Id": i, "Port": PORT} for i in asked]
        found = (client or self.front).describe_target_health(**kwargs)["TargetHealthDescriptions"]
        return {d["Target"]["Id"]: d["TargetHealth"] for d in found}

    def register(self, instance: str) -> None:
        self.moto.register_targets(TargetGroupArn=self.arn, Targets=[{"Id": instance, "Port": PORT}])

    def deregister(self, instance: str) -> None:
        self.moto.deregister_targets(TargetGroupArn=self.arn, Targets=[{"Id": instance, "Port": PORT}])

    def gone(self, instance: str) -> None:
        """Deregistered, and out of the load balancer."""
        if instance in self.health(self.moto):
            self.deregister(instance)
        _until(f"{instance} out of the load balancer", lambda: instance not in self.runtime.servers(self.name))


def _engine(ip: str) -> docker.DockerClient:
    ssh.install()  # docker-py's ssh transport, made to reap its ssh processes (as the driver's connect does)
    return docker.DockerClient(base_url=docker_url(ip), use_ssh_client=True, timeout=60)


def _run(ip: str, registry: str, tag: str) -> str:
    """The test's frontend container on the instance (``tag``), published on PORT; its host name."""
    client = _engine(ip)
    try:
        for old in client.containers.list(all=True, filters={"label": LABEL}):
            old.remove(force=True)
        made = client.containers.run(f"{registry}/popcon/frontend:{tag}", detach=True, ports={"3000/tcp": PORT},
                                     labels={LABEL: "1"}, name="lb-health-frontend")  # fmt: skip
        return str(made.id)[:12]
    finally:
        client.close()


def _remove(ip: str) -> None:
    client = _engine(ip)
    try:
        for old in client.containers.list(all=True, filters={"label": LABEL}):
            old.remove(force=True)
    finally:
        client.close()


def _follow(follower: Follower, moto_url: str, arn: str, stop: threading.Event, failures: list[str]) -> None:
    """What the fleet agent does for the sandbox's own load balancer, for the test's."""
    with moto.clients(moto_url) as clients:
        while not stop.is_set():
            try:
                follower.apply(view.target_group(clients, arn), lambda _: None)
            except Exception as e:  # reported by the test at the end
                failures.append(f"{type(e).__name__}: {e}")
            stop.wait(0.5)


@pytest.fixture(scope="module")
def lb(sandbox: SandboxInfo) -> Iterator[Balancer]:
    moto_itself = endpoints().moto_server_url
    front, raw = _client("elbv2", sandbox.moto_url), _client("elbv2", moto_itself)
    assert sandbox.moto_url != moto_itself
    asg, ec2 = _client("autoscaling", moto_itself), _client("ec2", moto_itself)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"]
    ids = sorted(i["InstanceId"] for i in group["Instances"])
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    instances = {i["InstanceId"]: i["PrivateIpAddress"] for r in reservations for i in r["Instances"]
                 if i["State"]["Name"] == "running"}  # fmt: skip
    assert len(instances) >= 2, instances
    instances = dict(sorted(instances.items())[:2])
    tag = uuid.uuid4().hex[:8]
    mine = FleetGroup("lb-health", f"lbh-{tag}", desired=0, min_size=0, max_size=0, port=PORT, health_path="/health")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{GROUP.prefix}-vpc"]}])["Vpcs"][0]["VpcId"]
    tg = raw.create_target_group(Name=mine.target_group, Protocol="HTTP", Port=PORT, VpcId=vpc,
                                 HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
                                 HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]  # fmt: skip
    arn = tg["TargetGroupArn"]
    raw.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="lbh", dir="/tmp"))  # short: the admin socket's path
    files, socket_path, port = FleetFiles(folder), folder / "haproxy.sock", _free_port()
    haproxy.ensure(files, mine, port, Clock(), admin_socket=socket_path)
    runtime = haproxy.Runtime(socket_path)
    follower = Follower(files, port, Clock(), runtime=runtime, name=f"test-{mine.prefix}")
    stop, failures = threading.Event(), []
    thread = threading.Thread(target=_follow, args=(follower, moto_itself, arn, stop, failures), daemon=True)
    made = Balancer(arn, mine.target_group, f"http://127.0.0.1:{port}", runtime, instances, front, raw)
    try:
        with ThreadPoolExecutor() as pool:
            hosts = list(pool.map(lambda ip: _run(ip, sandbox.registry, "1.4.0"), instances.values()))
        made.hosts = dict(zip(instances, hosts, strict=True))
        for ip in instances.values():
            _until(f"{ip}:{PORT}", lambda ip=ip: _get(f"http://{ip}:{PORT}/health")[0] == 200)
        thread.start()
        _until("the follower's declaration", lambda: followed.find(followed.DECLARATIONS, arn))
        yield made
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        haproxy.stop(files, Clock(), socket_path)
        followed.remove(followed.DECLARATIONS, follower.name)
        raw.delete_target_group(TargetGroupArn=arn)
        with ThreadPoolExecutor() as pool:
            list(pool.map(_remove, instances.values()))
        shutil.rmtree(folder, ignore_errors=True)
    assert not failures, failures[:3]


@dataclass
class Seen:
    """What the front said and what the load balancer answered, each with when it was asked and answered."""

    health: list[tuple[float, float, dict[str, str]]] = field(default_factory=list)  # start, end, TargetHealth
    served: list[tuple[float, float, int, str]] = field(default_factory=list)  # start, end, status, host


def _watch(lb: Balancer, instance: str, until: Callable[[Seen], bool], timeout: float = 30.0) -> Seen:
    """Ask the front about ``instance`` and send requests through the load balancer until ``until``."""
    seen, stop = Seen(), threading.Event()

    def load() -> None:
        while not stop.is_set():
            start = time.monotonic()
            status, body = _get(f"{lb.url}/")
            lines = body.splitlines()
            host = lines[1].removeprefix("host: ") if status == 200 and len(lines) > 1 else ""
            seen.served.append((start, time.monotonic(), status, host))
            time.sleep(0.05)

    loader = threading.Thread(target=load)
    loader.start()
    deadline = time.monotonic() + timeout
    try:
        while not until(seen):
            assert time.monotonic() < deadline, f"not within {timeout:g} s: {seen.health[-3:]}"
            start = time.monotonic()
            health = lb.health().get(instance, {"State": "absent"})
            seen.health.append((start, time.monotonic(), health))
            time.sleep(0.1)
    finally:
        stop.set()
        loader.join()
    return seen


def _states(seen: Seen) -> list[str]:
    """The states the front reported, each run of the same state once."""
    states: list[str] = []
    for _, _, health in seen.health:
        label = f"{health['State']} {health.get('Reason', '')}".strip()
        if not states or states[-1] != label:
            states.append(label)
    return states


def test_a_registered_target_is_initial_then_healthy_and_gets_requests_only_from_then(lb: Balancer) -> None:
    a = next(iter(lb.instances))
    lb.gone(a)
    lb.register(a)
    try:
        assert lb.health(lb.moto)[a] == {"State": "healthy"}  # moto: at once
        seen = _watch(lb, a, lambda s: sum(h["State"] == "healthy" for _, _, h in s.health) >= 5)
    finally:
        lb.gone(a)
    assert _states(seen) == ["initial Elb.RegistrationInProgress", "initial Elb.InitialHealthChecking", "healthy"]
    healthy_from = next(end for _, end, h in seen.health if h["State"] == "healthy")
    last_initial = max(start for start, _, h in seen.health if h["State"] == "initial")
    after = [(status, host) for start, _, status, host in seen.served if start > healthy_from]
    before = [status for _, end, status, _ in seen.served if end < last_initial]
    assert after and all(got == (200, lb.hosts[a]) for got in after), after
    assert before and set(before) == {503}, before  # no server up: HAProxy answers 503


def test_a_broken_target_stays_initial_then_unhealthy_and_gets_no_request(lb: Balancer, sandbox: SandboxInfo) -> None:
    b = list(lb.instances)[1]
    lb.gone(b)
    _run(lb.instances[b], sandbox.registry, "broken")  # its /health answers 500
    lb.register(b)
    try:
        seen = _watch(lb, b, lambda s: sum(h["State"] == "unhealthy" for _, _, h in s.health) >= 10)
    finally:
        lb.gone(b)
        lb.hosts[b] = _run(lb.instances[b], sandbox.registry, "1.4.0")
        _until("the frontend again", lambda: _get(f"http://{lb.instances[b]}:{PORT}/health")[0] == 200)
    assert _states(seen)[0] == "initial Elb.RegistrationInProgress"
    assert _states(seen)[-1] == "unhealthy Target.ResponseCodeMismatch"
    assert {h["State"] for _, _, h in seen.health} == {"initial", "unhealthy"}
    assert seen.health[-1][2]["Description"] == "Health checks failed with these codes: [500]"
    assert {status for _, _, status, _ in seen.served} == {503}  # never sent a request


def test_a_deregistered_target_is_draining_while_the_load_balancer_drains_it_then_gone(lb: Balancer) -> None:
    a = next(iter(lb.instances))
    lb.gone(a)
    lb.register(a)
    _until(f"{a} healthy", lambda: lb.health().get(a, {}).get("State") == "healthy")
    lb.deregister(a)
    assert a not in lb.health(lb.moto)  # moto: gone at once
    seen = _watch(lb, a, lambda s: bool(s.health) and s.health[-1][2]["State"] == "absent")
    assert _states(seen) == ["draining Target.DeregistrationInProgress", "absent"]
    assert a not in lb.runtime.servers(lb.name)  # the front said gone: the load balancer has it no more
    assert lb.health(asked=[a])[a]["State"] == "unused"  # asked by name once gone: as moto says


def test_a_target_group_no_load_balancer_follows_is_reported_as_moto_reports_it(lb: Balancer) -> None:
    a = next(iter(lb.instances))
    vpc = lb.moto.describe_target_groups(TargetGroupArns=[lb.arn])["TargetGroups"][0]["VpcId"]
    other = lb.moto.create_target_group(Name=f"{lb.name[:-9]}-other", Protocol="HTTP", Port=PORT,
                                        VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    try:
        lb.moto.register_targets(TargetGroupArn=other, Targets=[{"Id": a, "Port": PORT}])
        for kwargs in ({}, {"Targets": [{"Id": a}, {"Id": "i-00000000000000000"}]}):
            through_front = lb.front.describe_target_health(TargetGroupArn=other, **kwargs)
            from_moto = lb.moto.describe_target_health(TargetGroupArn=other, **kwargs)
            assert through_front["TargetHealthDescriptions"] == from_moto["TargetHealthDescriptions"]
            assert through_front["TargetHealthDescriptions"][0]["TargetHealth"] == {"State": "healthy"}  # moto's
    finally:
        lb.moto.delete_target_group(TargetGroupArn=other)


def _drivers(url: str, join_timeout: float) -> FleetDrivers:
    clients = FleetClients(*(_client(s, url) for s in ("autoscaling", "ec2", "elbv2", "cloudwatch")))
    return FleetDrivers(reader=FleetReader(clients), writer=FleetWriter(clients),
                        probe=lambda url, t: ProbeResult(False, "not asked"), settle=0.0, poll=0.2,
                        join_timeout=join_timeout)  # fmt: skip


def _step(kind: type[Any], instance: str, lb: Balancer, **extra: Any) -> Any:
    ref = TargetGroupRef(lb.arn, lb.name, PORT)
    return kind(change=Change(f"instance:{instance}/step", {}, {}), reason="test", fleet="web", batch=1,
                instance=instance, target_groups=(ref,), **extra)  # fmt: skip


def test_the_rollouts_join_waits_until_the_load_balancer_sends_requests_and_leave_until_it_sends_none(
    lb: Balancer, sandbox: SandboxInfo
) -> None:
    a = next(iter(lb.instances))
    lb.gone(a)
    drivers = _drivers(sandbox.moto_url, join_timeout=30.0)
    message = join(drivers, _step(JoinTargetGroups, a, lb))
    assert message.startswith(f"joined {lb.name}; healthy after")
    assert lb.runtime.servers(lb.name)[a].up  # reported healthy: HAProxy has it in service
    status, body = _get(f"{lb.url}/")
    assert (status, body.splitlines()[1]) == (200, f"host: {lb.hosts[a]}")
    message = leave(drivers, _step(LeaveTargetGroups, a, lb, drain_timeout=30.0))
    assert message.startswith(f"left {lb.name}; drained in")
    assert a not in lb.runtime.servers(lb.name)  # reported gone: the load balancer has it no more
    assert _get(f"{lb.url}/")[0] == 503


def test_the_rollouts_join_fails_on_a_target_the_load_balancer_finds_unhealthy(
    lb: Balancer, sandbox: SandboxInfo
) -> None:
    b = list(lb.instances)[1]
    lb.gone(b)
    _run(lb.instances[b], sandbox.registry, "broken")
    try:
        with pytest.raises(RolloutFailed, match=rf"not reported healthy by its target groups .*{lb.name}: unhealthy"):
            join(_drivers(sandbox.moto_url, join_timeout=6.0), _step(JoinTargetGroups, b, lb))
    finally:
        lb.gone(b)
        lb.hosts[b] = _run(lb.instances[b], sandbox.registry, "1.4.0")


def test_the_fleets_own_target_group_is_reported_as_its_load_balancer_sees_it(sandbox: SandboxInfo) -> None:
    """popcon-prod-frontend: declared by the fleet's load balancer (the agent's follower), each registered
    target ``healthy`` exactly when HAProxy has it in service."""
    moto_itself, front = _client("elbv2", endpoints().moto_server_url), _client("elbv2", sandbox.moto_url)
    arn = moto_itself.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]["TargetGroupArn"]
    declared = followed.find(followed.DECLARATIONS, arn)
    assert declared is not None, f"no load balancer declares it follows {arn}"
    assert (declared[0].admin_socket, declared[1].backend) == (str(haproxy.ADMIN_SOCKET), GROUP.target_group)
    runtime = haproxy.Runtime()

    def snapshot() -> dict[str, tuple[str, str]]:
        return {n: (s.status, s.admin) for n, s in runtime.servers(GROUP.target_group).items()}

    def consistent() -> tuple[dict[str, tuple[str, str]], dict[str, str]] | None:
        before = snapshot()
        found = front.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        states = {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}
        return (before, states) if snapshot() == before else None

    servers, states = _until("HAProxy unchanged while the front is asked", consistent)
    registered = [d["Target"]["Id"] for d in moto_itself.describe_target_health(TargetGroupArn=arn)[
        "TargetHealthDescriptions"]]  # fmt: skip
    assert registered, "the fleet's target group has no target"
    for instance in registered:
        status, admin = servers.get(instance, ("absent", "-"))
        in_service = admin == "ready" and status.startswith("UP")
        assert (states[instance] == "healthy") == in_service, (instance, states[instance], status, admin)
