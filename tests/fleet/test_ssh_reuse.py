"""ssh connection reuse to the fleet's engines for real: one master per instance for docker-py and Compose,
a dead master dropped without hanging the call, and one connection per call when turned off.

Connections are counted on this side: the TCP connections to the instance's port 22 that appear
during a test (``ss``, every state, so that a connection already closed still counts while in
TIME_WAIT). Run under the fleet lock (nothing else connects to the instance meanwhile). Nothing in
the fleet is changed: the test's own sshd session process is stopped and killed, never the
instance's sshd.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler.core.errors import TemporaryError
from reconciler.drivers import sshmux
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.drivers.docker.client import connect, translate_docker_errors
from reconciler.sandbox.fleet.layout import GROUP, NETNS_PREFIX, docker_url
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world
HANG = 90.0  # seconds after which a call to a dead master counts as hung (the master gives up after 15)


def _instance(sandbox: SandboxInfo) -> tuple[str, str]:
    """The group's first running instance: (id, private IP)."""
    if not sandbox.load_balancer:
        pytest.skip("the sandbox runs no fleet")
    kw: Any = {"endpoint_url": sandbox.moto_url, "region_name": sandbox.region,
               "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
    asg, ec2 = boto3.client("autoscaling", **kw), boto3.client("ec2", **kw)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    running = [
        (i["InstanceId"], i["PrivateIpAddress"])
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]
    assert running, "no running instance in the group"
    return sorted(running)[0]


def _ports(ip: str) -> set[int]:
    """Local ports of this side's TCP connections to ip:22, in any state."""
    out = subprocess.run(["ss", "-tanH", "dst", f"{ip}:22"], capture_output=True, text=True, check=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip()}


def _check(socket: Path) -> str:
    """``ssh -O check``: "Master running (pid=N)" while the master answers."""
    done = subprocess.run(["ssh", "-o", f"ControlPath={socket}", "-O", "check", "x"], capture_output=True,
                          text=True, timeout=10, check=False)  # fmt: skip
    return done.stderr.strip() if done.returncode == 0 else ""


@pytest.fixture
def mux(monkeypatch: pytest.MonkeyPatch) -> Iterator[sshmux.Multiplexing]:
    """This process's multiplexing, on, with no master yet (closed again after the test)."""
    monkeypatch.delenv(sshmux.ENV, raising=False)
    shared = sshmux.shared()
    shared.close()
    yield shared
    shared.close()


def test_successive_calls_and_compose_reuse_one_master(sandbox: SandboxInfo, mux: sshmux.Multiplexing) -> None:
    _, ip = _instance(sandbox)
    before = _ports(ip)
    api = connect(docker_url(ip), timeout=30)  # asks the engine its API version: a first call
    try:
        api.version()
        api.containers(all=True)
        masters = mux.masters()
        assert len(masters) == 1, masters
        running = _check(masters[0])
        assert running.startswith("Master running")
        assert len(_ports(ip) - before) == 1  # three calls, one TCP connection: the master's
        compose = ComposeRunner(locate_compose(), docker_host=docker_url(ip))
        done = subprocess.run([*compose.binary, "ls", "--all", "--format", "json"], env=compose.process_env(),
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(_ports(ip) - before) == 1  # Compose's ssh went through the same master
        assert mux.masters() == masters and _check(masters[0]) == running
    finally:
        api.close()
    folder = masters[0].parent
    mux.close()
    assert not folder.exists() and not _check(masters[0])  # the master asked to exit, its folder removed


def test_turned_off_every_call_makes_its_own_connection(sandbox: SandboxInfo, mux: sshmux.Multiplexing,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _, ip = _instance(sandbox)
    monkeypatch.setenv(sshmux.ENV, "0")
    before = _ports(ip)
    api = connect(docker_url(ip), timeout=30)
    try:
        api.version()
        api.containers(all=True)
    finally:
        api.close()
    assert mux.masters() == [] and mux.control_dir() is None
    assert len(_ports(ip) - before) >= 3  # the version asked by connect, then one per call


def _session_pids(instance_id: str, port: int) -> list[int]:
    """The instance's sshd processes serving the connection from our local ``port`` (never the listener)."""
    out = subprocess.run(["ip", "netns", "exec", f"{NETNS_PREFIX}{instance_id}", "ss", "-tnpH", "state",
                          "established", "sport", "=", ":22", "and", "dport", "=", f":{port}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


def test_a_dead_master_does_not_hang_the_call(sandbox: SandboxInfo, mux: sshmux.Multiplexing) -> None:
    """The instance stops answering on the master's connection (its sshd session is frozen, as a
    terminated instance's packets vanish): the master gives up after its keep-alives and the call
    ends instead of hanging: ssh connects anew when its master fails it (or the call fails as a
    temporary error); the next call has a new master."""
    instance_id, ip = _instance(sandbox)
    before = _ports(ip)
    api = connect(docker_url(ip), timeout=30)
    try:
        (port,) = _ports(ip) - before
        frozen = _session_pids(instance_id, port)
        assert frozen, "no sshd session for the master's connection"
        old = _check(mux.masters()[0])
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        outcome: list[BaseException | None] = []

        def call() -> None:
            try:
                with translate_docker_errors(api):
                    api.containers(all=True)
                outcome.append(None)
            except BaseException as exc:  # the outcome is what the test checks
                outcome.append(exc)

        worker = threading.Thread(target=call, daemon=True)
        try:
            worker.start()
            worker.join(HANG)
        finally:
            for pid in frozen:
                for sig in (signal.SIGKILL, signal.SIGCONT):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
        assert not worker.is_alive(), f"the call hung for {HANG:g} s on a dead master"
        assert len(outcome) == 1 and (outcome[0] is None or isinstance(outcome[0], TemporaryError)), outcome
        api.version()  # a new master
        masters = mux.masters()
        assert len(masters) == 1 and _check(masters[0]) not in ("", old)
    finally:
        api.close()
