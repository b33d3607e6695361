"""One fleet instance's engine, without moto: a namespace with sshd and dockerd, reached over ssh://.

The instances here are made up (ids moto never gives, addresses at the top of
the subnet), so they never meet the fleet's own; they use the sandbox's ssh
key and client configuration, as the fleet does.
"""

from __future__ import annotations

import gc
import os
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet import instance, keys, netns
from reconciler.sandbox.fleet.layout import FleetFiles, InstanceEngine
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.sandbox.processes import Clock

pytestmark = pytest.mark.world


def _get(url: str, timeout: float = 15.0) -> tuple[int, str]:
    """GET url, retrying while nothing answers (a container starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _registry_port(sandbox: SandboxInfo) -> int:
    return int(sandbox.registry.rsplit(":", 1)[1])


def _prepare(sandbox: SandboxInfo) -> FleetFiles:
    files = FleetFiles(sandbox.state_dir)
    keys.ensure_keys(files)
    keys.install_client_config(files)
    netns.ensure_bridge()
    instance.ensure_forwarder(files, _registry_port(sandbox), Clock())
    return files


@pytest.fixture(scope="module")
def engine(sandbox: SandboxInfo) -> Iterator[tuple[FleetFiles, InstanceEngine]]:
    files = _prepare(sandbox)
    made = InstanceEngine("i-0feedface0000001", "10.90.1.250")
    instance.start(files, made, _registry_port(sandbox), Clock())
    yield files, made
    instance.stop(files, made, Clock())


def test_the_sdk_reaches_the_instance_engine_over_ssh(engine: tuple[FleetFiles, InstanceEngine]) -> None:
    _, made = engine
    assert made.docker_url == "ssh://root@10.90.1.250"
    api = connect(made.docker_url, timeout=30)  # the driver's own connection: the ssh client
    try:
        info = api.info()
        assert info["DockerRootDir"] == str(made.data_root)  # this instance's engine, not the host's
        assert api.version()["Version"]
    finally:
        api.close()
    client = docker.DockerClient(base_url=made.docker_url, use_ssh_client=True, timeout=30)
    try:
        assert client.ping()
    finally:
        client.close()


def test_compose_over_ssh_pulls_from_the_registry_and_publishes_on_the_private_ip(
    engine: tuple[FleetFiles, InstanceEngine], sandbox: SandboxInfo, tmp_path: Path
) -> None:
    _, made = engine
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  frontend:\n"
        f"    image: {sandbox.registry}/popcon/frontend:1.4.0\n"
        "    ports: ['3000:3000']\n"
    )
    env = {**os.environ, "DOCKER_HOST": made.docker_url}
    env.pop("DOCKER_CONTEXT", None)

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "compose", "-p", "fleettest", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    up = compose("up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        assert _get(f"http://{made.private_ip}:3000/health") == (200, "ok\n")
        status, body = _get(f"http://{made.private_ip}:3000/")
        assert status == 200 and body.startswith("popcon-frontend 1.4.0")
        version = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], env=env,
                                 capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert version.returncode == 0 and version.stdout.strip(), version.stderr
    finally:
        down = compose("down")
    assert down.returncode == 0, down.stderr


def _rules() -> str:
    return "\n".join(
        subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=True).stdout
        for table in ("filter", "nat")
    )


def test_stopping_an_instance_leaves_nothing_behind(sandbox: SandboxInfo) -> None:
    files = _prepare(sandbox)
    rules = _rules()
    gone = InstanceEngine("i-0feedface0000002", "10.90.1.251")
    instance.start(files, gone, _registry_port(sandbox), Clock())
    assert gone.netns in netns.namespaces()
    assert instance.running(files, gone)
    assert instance.stop(files, gone, Clock())
    assert gone.netns not in netns.namespaces()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert gone.veth not in links
    assert not gone.run_dir.exists() and not gone.data_root.exists()
    assert not files.instance_dir(gone.instance_id).exists()
    leftovers = subprocess.run(["pgrep", "-f", gone.instance_id], capture_output=True, text=True, check=False)
    assert leftovers.stdout == ""
    assert not instance.ssh_answers(gone.private_ip, timeout=0.5)
    assert _rules() == rules  # the instance's dockerd wrote only in its namespace's tables


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


def test_closing_an_ssh_client_reaps_its_ssh_processes(engine: tuple[FleetFiles, InstanceEngine]) -> None:
    """docker-py leaves each connection's ssh unreaped and its pipes open; the driver's connect fixes that."""
    _, made = engine
    assert _ssh_children() == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api = connect(made.docker_url, timeout=30)
        for _ in range(3):
            api.containers()
            api.images()
        api.close()
        gc.collect()
    assert _ssh_children() == []  # each connection's ssh reaped: not even a zombie
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
