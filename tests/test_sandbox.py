"""The embedded sandbox: idempotent up, demo images, moto seeds, engines, cold start and down.

Most tests use the real sandbox (the session fixture); the cold-start test
starts a second registry and moto server on free ports in a temporary state
dir, and one more engine (host-3, with RECONCILER_SANDBOX_ENGINES=4), and
stops them again, leaving the shared ones (host-0..host-2) alone.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import docker
import pytest

from reconciler.core.errors import ReconcilerError, WorldError
from reconciler.core.model import COMPOSE_PROJECT, OWNER_KEY
from reconciler.sandbox import engines, images, layout, moto, processes, registry, seed
from reconciler.sandbox.layout import Engine, EngineDaemon, endpoints
from reconciler.sandbox.lifecycle import SandboxInfo, down, status, up
from reconciler.sandbox.network import shared_chain_rules
from reconciler.sandbox.processes import Clock

TEST_LABEL = "reconciler.test/sandbox"


def _aws(info: SandboxInfo, service: str) -> object:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=info.moto_url,
        region_name=info.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def _get_when_up(url: str, timeout: float = 10) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="starts a dockerd: root only")


# --------------------------------------------------------------------------
# pure parts
# --------------------------------------------------------------------------


def _demo_inputs() -> tuple[bytes, dict[str, bytes]]:
    return images.find_busybox().read_bytes(), images.read_demo_files()


def test_build_is_deterministic_and_versions_differ() -> None:
    busybox, demo = _demo_inputs()
    first = images.build(images.DEMO_IMAGES, busybox, demo)
    second = images.build(images.DEMO_IMAGES, busybox, demo)
    assert [b.digest for b in first] == [b.digest for b in second]
    assert len({b.digest for b in first}) == len(images.DEMO_IMAGES)
    # all images share their two layers; only the config differs (and a broken image's third layer)
    assert len({b.layers[:2] for b in first}) == 1
    assert len({b.layers for b in first if b.image.broken}) == 1
    assert {len(b.layers) for b in first} == {2, 3}
    healthy = [b for b in first if not b.image.broken]
    assert [b.digest for b in images.build([b.image for b in healthy], busybox, demo)] == [b.digest for b in healthy]


def test_build_changes_when_the_demo_files_change() -> None:
    busybox, demo = _demo_inputs()
    before = images.build(images.DEMO_IMAGES[:1], busybox, demo)[0]
    after = images.build(images.DEMO_IMAGES[:1], busybox, {**demo, "health": b"fine\n"})[0]
    assert before.layers[0] == after.layers[0]
    assert before.layers[1] != after.layers[1]
    assert before.digest != after.digest


def test_manifest_and_config_describe_the_image() -> None:
    busybox, demo = _demo_inputs()
    backend = next(
        b for b in images.build(images.DEMO_IMAGES, busybox, demo) if b.image.ref == "popcon/backend:2.1.0"
    )
    manifest = json.loads(backend.manifest)
    assert manifest["mediaType"] == images.MANIFEST_TYPE
    assert manifest["config"]["digest"] == backend.config.digest
    config = json.loads(backend.config.data)
    assert "APP_VERSION=2.1.0" in config["config"]["Env"]
    assert "PORT=8080" in config["config"]["Env"]
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"]) == 2


def test_static_busybox_check() -> None:
    assert images.is_static_elf(images.find_busybox().read_bytes())
    assert not images.is_static_elf(Path("/bin/ls").read_bytes())
    assert not images.is_static_elf(b"#!/bin/sh\n")


def test_endpoints_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_MOTO_INTERNAL_PORT", raising=False)
    monkeypatch.setenv("RECONCILER_SANDBOX_MOTO_PORT", "14566")
    monkeypatch.setenv("RECONCILER_SANDBOX_REGISTRY_PORT", "15000")
    where = endpoints()
    assert where.moto_url == "http://127.0.0.1:14566"
    assert where.registry == "127.0.0.1:15000"
    assert endpoints(moto_port=1, registry_port=2).registry == "127.0.0.1:2"
    assert where.moto_server_url == "http://127.0.0.1:14567"  # moto itself, behind the front: the next port
    monkeypatch.setenv("RECONCILER_SANDBOX_MOTO_INTERNAL_PORT", "4566")
    assert (endpoints().moto_url, endpoints().moto_server_url) == ("http://127.0.0.1:14566", "http://127.0.0.1:4566")
    assert endpoints(moto_port=7).moto_server_port == 8  # an explicit AWS port: moto on the next one
    assert endpoints(moto_port=7, moto_internal_port=9).moto_server_port == 9
    monkeypatch.setenv("RECONCILER_SANDBOX_MOTO_INTERNAL_PORT", "14566")
    with pytest.raises(ReconcilerError, match="RECONCILER_SANDBOX_MOTO_INTERNAL_PORT"):
        endpoints()
    monkeypatch.delenv("RECONCILER_SANDBOX_MOTO_INTERNAL_PORT")
    monkeypatch.setenv("RECONCILER_SANDBOX_MOTO_PORT", "http")
    with pytest.raises(ReconcilerError, match="RECONCILER_SANDBOX_MOTO_PORT"):
        endpoints()


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_wait_reports_the_timeout_and_the_log() -> None:
    fake = FakeClock()
    with pytest.raises(ReconcilerError, match=r"dockerd did not become ready in 30 s; see /x/dockerd.log"):
        processes.wait("dockerd", lambda: False, Clock(fake.now, fake.sleep), 30.0, "see /x/dockerd.log")
    assert 30.0 <= fake.t < 31.0


def test_wait_reports_a_process_that_died() -> None:
    fake = FakeClock()
    with pytest.raises(ReconcilerError, match="exited while starting"):
        processes.wait("moto", lambda: False, Clock(fake.now, fake.sleep), 30.0, "see log", lambda: False)
    assert fake.t == 0.0


def test_no_engine_and_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(processes, "is_root", lambda: False)
    with pytest.raises(ReconcilerError, match="only as root"):
        engines.ensure_dockerd(tmp_path, f"unix://{tmp_path}/docker.sock", Clock())
    with pytest.raises(ReconcilerError, match="DOCKER_HOST"):
        engines.ensure_dockerd(tmp_path, "tcp://127.0.0.1:1", Clock())


def test_read_pid_ignores_stale_and_foreign_pidfiles(tmp_path: Path) -> None:
    pidfile = tmp_path / "x.pid"
    assert processes.read_pid(pidfile, "moto_server") is None
    pidfile.write_text("garbage\n")
    assert processes.read_pid(pidfile, "moto_server") is None
    pidfile.write_text("1\n")  # alive, but not a moto server
    assert processes.read_pid(pidfile, "moto_server") is None


def test_a_foreign_process_on_the_registry_port_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def hang_up() -> None:  # a server that is not a registry: accepts, says nothing
            for _ in range(2):
                conn, _addr = listener.accept()
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        with pytest.raises(ReconcilerError, match="not a Docker registry"):
            registry.ensure_registry(tmp_path, port, Clock())
        thread.join(timeout=5)


def test_endpoints_name_the_engines_without_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX_ENGINES", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/main.sock")
    where = endpoints()
    assert where.engines == (
        Engine("host-0", "unix:///tmp/main.sock"),
        Engine("host-1", "unix:///run/reconciler-sandbox/host-1/docker.sock"),
        Engine("host-2", "unix:///run/reconciler-sandbox/host-2/docker.sock"),
    )
    assert where.docker_host == where.engines[0].docker_host
    monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", "1")
    assert endpoints().engines == (Engine("host-0", "unix:///tmp/main.sock"),)
    monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", "5")
    assert [e.name for e in endpoints().engines] == ["host-0", "host-1", "host-2", "host-3", "host-4"]
    for bad in ("0", "x", "-1", "500"):
        monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", bad)
        with pytest.raises(ReconcilerError, match="RECONCILER_SANDBOX_ENGINES"):
            endpoints()


def test_engine_layouts_are_distinct_and_short() -> None:
    daemons = [EngineDaemon(i) for i in range(1, layout.MAX_ENGINES)]
    for field_ in ("socket", "exec_root", "pidfile", "data_root", "bridge", "subnet"):
        assert len({getattr(d, field_) for d in daemons}) == len(daemons), field_
    nets = [ipaddress.ip_network(d.subnet) for d in daemons]
    main_pools = [ipaddress.ip_network("172.16.0.0/12"), ipaddress.ip_network("192.168.0.0/16")]
    assert not any(n.overlaps(m) for n in nets for m in main_pools)
    for d in daemons:
        assert len(str(d.socket)) < 100  # unix socket paths: 107 bytes at most
        assert ipaddress.ip_interface(d.bridge_address).network.subnet_of(ipaddress.ip_network(d.subnet))
        assert ipaddress.ip_network(d.address_pool).subnet_of(ipaddress.ip_network(d.subnet))  # type: ignore[arg-type]
        assert len(d.bridge) <= 15  # IFNAMSIZ
        argv = d.argv("dockerd")
        assert "--bridge" in argv and "none" not in argv
        assert not any(a.startswith("tcp://") for a in argv)


def test_an_extra_engine_is_started_only_as_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(processes, "is_root", lambda: False)
    with pytest.raises(ReconcilerError, match=r"host-48.*only as root"):
        engines.ensure_engine(tmp_path, EngineDaemon(48), Clock())


# --------------------------------------------------------------------------
# the running sandbox
# --------------------------------------------------------------------------


@pytest.mark.world
def test_second_up_starts_pushes_and_seeds_nothing(sandbox: SandboxInfo) -> None:
    events: list[str] = []
    again = up(sandbox.state_dir, on_event=events.append)
    assert again.started == ()
    assert again.pushed == ()
    assert again.seeded == ()
    assert dict(again.images) == dict(sandbox.images)
    assert (again.moto_url, again.registry, again.docker_host) == (
        sandbox.moto_url,
        sandbox.registry,
        sandbox.docker_host,
    )
    assert any(f"all {len(images.DEMO_IMAGES)} demo images present" in e for e in events)
    assert not any("started at" in e for e in events)
    assert again.engines == sandbox.engines
    assert sum("engine host-" in e and "already running" in e for e in events) == 2


@pytest.mark.world
def test_up_gives_three_engines_that_answer(sandbox: SandboxInfo) -> None:
    assert [e.name for e in sandbox.engines] == ["host-0", "host-1", "host-2"]
    assert sandbox.engines[0].docker_host == sandbox.docker_host
    assert sandbox.engines == endpoints().engines
    ids = set()
    for engine in sandbox.engines:
        assert engines.docker_version(engine.docker_host) is not None, engine
        client = docker.DockerClient(base_url=engine.docker_host)
        try:
            ids.add(client.info()["ID"])
        finally:
            client.close()
    assert len(ids) == 3  # three daemons, not one socket thrice


@pytest.mark.world
def test_an_extra_engine_pulls_from_the_registry_and_publishes_on_loopback(sandbox: SandboxInfo) -> None:
    host = sandbox.engines[1]
    client = docker.DockerClient(base_url=host.docker_host)
    ref = f"{sandbox.registry}/popcon/frontend@{sandbox.images['popcon/frontend:1.5.0']}"
    try:
        client.images.pull(ref)  # plain http: loopback registries are insecure by default
        container = client.containers.run(  # type: ignore[call-overload]  # stubs lack ports=(host, None)
            ref, detach=True, labels={TEST_LABEL: "1"}, ports={"3000/tcp": ("127.0.0.1", None)}
        )
        container.reload()
        address = container.attrs["NetworkSettings"]["IPAddress"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(EngineDaemon(1).subnet)
        port = container.attrs["NetworkSettings"]["Ports"]["3000/tcp"][0]["HostPort"]
        status_code, page = _get_when_up(f"http://127.0.0.1:{port}/")
        assert status_code == 200
        assert page.startswith("popcon-frontend 1.5.0\n")
    finally:
        for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
            c.remove(force=True)
        client.close()


@pytest.mark.world
def test_demo_images_resolve_in_the_registry(sandbox: SandboxInfo) -> None:
    client = registry.RegistryClient(sandbox.registry)
    served = {i.ref: client.manifest_digest(i.repository, i.tag) for i in images.DEMO_IMAGES}
    assert served == dict(sandbox.images)
    assert all(d and d.startswith("sha256:") for d in served.values())
    assert len(set(served.values())) == len(images.DEMO_IMAGES)
    assert client.manifest_digest("popcon/backend", "0.0.0-missing") is None


@pytest.fixture
def engine(sandbox: SandboxInfo) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=sandbox.docker_host)
    yield client
    for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        c.remove(force=True)
    for n in client.networks.list(filters={"label": TEST_LABEL}):
        n.remove()
    client.close()


@pytest.mark.world
def test_demo_container_serves_health_and_masks_secrets(
    sandbox: SandboxInfo, engine: docker.DockerClient
) -> None:
    digest = sandbox.images["popcon/backend:2.1.0"]
    ref = f"{sandbox.registry}/popcon/backend@{digest}"
    engine.images.pull(ref)
    password, token = secrets.token_hex(16), secrets.token_hex(16)
    container = engine.containers.run(  # type: ignore[call-overload]  # stubs lack ports=(host, None)
        ref,
        detach=True,
        labels={TEST_LABEL: "1"},
        environment={"DB_HOST": "mysql", "DB_PASSWORD": password, "API_TOKEN": token},
        ports={"8080/tcp": ("127.0.0.1", None)},
    )
    container.reload()
    port = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            status_code, body = _get(f"{base}/health")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert status_code == 200
    assert body.strip() == "ok"

    status_code, page = _get(f"{base}/")
    assert status_code == 200
    assert page.startswith("popcon-backend 2.1.0\n")
    assert "  DB_HOST=mysql\n" in page
    assert "  DB_PASSWORD=(set)\n" in page
    assert "  API_TOKEN=(set)\n" in page
    assert password not in page and token not in page
    assert "REQUEST_METHOD" not in page  # the container's environment, not the CGI's

    t0 = time.monotonic()
    container.stop(timeout=10)
    assert time.monotonic() - t0 < 3, "the demo entry point must stop on SIGTERM"
    logs = container.logs().decode()
    assert password not in logs and token not in logs


@pytest.mark.world
def test_moto_holds_what_terraform_would_have_created(sandbox: SandboxInfo) -> None:
    ecr = _aws(sandbox, "ecr")
    ssm = _aws(sandbox, "ssm")
    repos = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}  # type: ignore[attr-defined]
    assert set(images.REPOSITORIES) <= repos
    for ref, digest in sandbox.images.items():
        repo, tag = ref.split(":")
        found = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])  # type: ignore[attr-defined]
        assert found["imageDetails"][0]["imageDigest"] == digest

    for p in seed.SEED_PARAMETERS:
        got = ssm.get_parameter(Name=p.name, WithDecryption=True)["Parameter"]  # type: ignore[attr-defined]
        assert got["Type"] == p.type
        assert got["Value"]
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p.name)  # type: ignore[attr-defined]
        assert tags["TagList"] == [], f"{p.name} must not look owned by anyone"
    names = {p.name for p in seed.SEED_PARAMETERS}
    assert {"/popcon/dev/DB_USERNAME", "/popcon/dev/DB_PASSWORD", "/popcon/dev/DB_ROOT_PASSWORD"} <= names
    assert seed.FOREIGN_PARAMETER in names


@pytest.mark.world
def test_seeding_never_overwrites_an_existing_value(sandbox: SandboxInfo) -> None:
    ssm = _aws(sandbox, "ssm")
    name = "/popcon/dev/DB_PASSWORD"
    before = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]  # type: ignore[attr-defined]
    created = seed.seed_parameters(ssm, lambda _: None)  # type: ignore[arg-type]
    after = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]  # type: ignore[attr-defined]
    assert created == []
    assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])


@pytest.mark.world
def test_status_reports_the_running_sandbox(sandbox: SandboxInfo) -> None:
    report = status(sandbox.state_dir)
    assert report["docker"]["running"] and report["registry"]["running"] and report["moto"]["running"]
    assert report["hub"]["running"] and report["hub"]["address"] == sandbox.hub
    assert [(e["name"], e["docker_host"]) for e in report["engines"]] == [
        (e.name, e.docker_host) for e in sandbox.engines
    ]
    assert all(e["running"] and e["version"] for e in report["engines"])
    assert report["images"] == dict(sandbox.images)
    assert report["compose"]["plugin"]
    json.dumps(report)  # plain data


@pytest.mark.world
def test_cold_start_on_other_ports_then_down(sandbox: SandboxInfo, tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    moto_port, registry_port, hub_port, internal = _free_port(), _free_port(), _free_port(), _free_port()
    ports = {"moto_port": moto_port, "registry_port": registry_port, "hub_port": hub_port,
             "moto_internal_port": internal}  # fmt: skip
    events: list[str] = []
    info = up(state, on_event=events.append, **ports)
    try:
        assert set(info.started) >= {"registry", "hub", "moto", "aws-front"}
        assert info.moto_url == f"http://127.0.0.1:{moto_port}"  # the front, moto behind it
        assert info.hub == f"127.0.0.1:{hub_port}"
        assert "docker" not in info.started  # the shared engine was already there
        assert info.registry == f"127.0.0.1:{registry_port}"
        assert sorted(info.pushed) == sorted(i.ref for i in images.DEMO_IMAGES)
        assert dict(info.images) == dict(sandbox.images)  # same inputs, same digests, another registry
        assert any(p.startswith("/popcon/dev/") for p in info.seeded)
        assert (state / "registry" / "config.yml").read_text().count(f"127.0.0.1:{registry_port}") == 1
        report = status(state, **ports)
        assert report["registry"]["managed"] and report["moto"]["managed"] and report["hub"]["managed"]
        assert report["aws_front"]["managed"] and report["aws_front"]["upstream"] == f"http://127.0.0.1:{internal}"
        assert report["hub"]["realm"] == f"http://127.0.0.1:{hub_port}/token"

        again = up(state, **ports)
        assert (again.started, again.pushed, again.seeded) == ((), (), ())
    finally:
        down(state, remove_containers=False, **ports)
    report = status(state, **ports)
    assert not report["registry"]["running"] and not report["moto"]["running"] and not report["hub"]["running"]
    assert not report["aws_front"]["running"] and not moto.moto_answers(internal)
    assert not (state / "moto.pid").exists() and not (state / "registry.pid").exists()
    assert not (state / "aws-front.pid").exists()
    assert not (state / "hub.pid").exists()
    # the shared sandbox is untouched
    assert status(sandbox.state_dir)["registry"]["running"]


@root_only
@pytest.mark.world
def test_an_engine_starts_from_nothing_and_down_stops_it(
    sandbox: SandboxInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """host-3 (RECONCILER_SANDBOX_ENGINES=4) from a stale pidfile and socket, to down."""
    extra = EngineDaemon(3)
    if engines.docker_version(extra.docker_host) is not None:
        pytest.skip(f"{extra.name} already runs")
    monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", "4")
    state = tmp_path / "sandbox"
    # leftovers of a killed daemon: a pidfile naming a dead process, a socket nobody serves
    extra.run_dir.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    extra.pidfile.write_text(f"{dead.pid}\n")
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(extra.socket))
    rules_before = shared_chain_rules()
    _cycle_engine(state, extra)  # once, so the next start finds a data root with its old networks
    assert Path("/sys/class/net/docker0").exists()

    events: list[str] = []
    t0 = time.monotonic()
    info = up(state, on_event=events.append)
    assert Path("/sys/class/net/docker0").exists()  # a restarting dockerd must not delete the main bridge
    try:
        assert info.started == (extra.name,), events
        assert time.monotonic() - t0 < 30
        assert [e.name for e in info.engines] == ["host-0", "host-1", "host-2", "host-3"]
        assert info.engines[3].docker_host == "unix:///run/reconciler-sandbox/host-3/docker.sock"
        assert any(f"engine {extra.name}: started at" in e and str(state / "host-3.log") in e for e in events)
        # the other engines' rules in the shared iptables chains survived the new daemon's start
        rules_after = shared_chain_rules()
        for chain, rules in rules_before.items():
            assert set(rules) <= set(rules_after[chain]), chain
        report = status(state)
        assert report["engines"][3]["running"] and report["engines"][3]["managed"]
        assert not report["engines"][1]["managed"]  # the session's, not this state dir's
        again = up(state)
        assert again.started == ()

        client = docker.DockerClient(base_url=extra.docker_host)
        ref = f"{sandbox.registry}/popcon/redis@{sandbox.images['popcon/redis:7.2']}"
        client.images.pull(ref)
        running = client.containers.run(ref, detach=True, labels={TEST_LABEL: "1"})
        client.close()
    finally:
        events.clear()
        down(state, on_event=events.append, remove_containers=False)
    assert any(f"engine {extra.name}: stopped" in e for e in events), events
    assert any("engine host-1: still answering" in e for e in events)
    assert engines.docker_version(extra.docker_host) is None
    assert not extra.socket.exists() and not extra.pidfile.exists()
    assert not Path(f"/sys/class/net/{extra.bridge}").exists()
    assert not (state / "host-3.pid").exists()
    assert not _alive(info_pid(events))
    assert running.id  # its container went with the daemon: no process of it is left
    assert not any(running.id in " ".join(processes.cmdline(int(d.name))) for d in _procs())
    # the session's engines are untouched
    assert all(engines.docker_version(e.docker_host) for e in sandbox.engines)


def _cycle_engine(state: Path, extra: EngineDaemon) -> None:
    started = engines.ensure_engine(state, extra, Clock())
    assert started.started
    assert engines.stop_engine(state, extra, Clock()) == started.pid


def info_pid(events: list[str]) -> int:
    (line,) = (e for e in events if "stopped (pid" in e)
    return int(line.split("(pid ", 1)[1].split(")", 1)[0])


def _alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for init."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def _procs() -> list[Path]:
    return [d for d in Path("/proc").iterdir() if d.name.isdigit()]


def test_publish_reports_an_unreachable_registry() -> None:
    busybox, demo = _demo_inputs()
    built = images.build(images.DEMO_IMAGES[:1], busybox, demo)
    with pytest.raises(WorldError, match="unreachable"):
        registry.publish(built, f"127.0.0.1:{_free_port()}", lambda _: None)


@pytest.mark.world
def test_down_removes_the_reconcilers_containers_and_their_networks(
    sandbox: SandboxInfo, engine: docker.DockerClient, tmp_path: Path
) -> None:
    owner = f"sandbox-test-{secrets.token_hex(4)}"
    project = f"sbxtest{secrets.token_hex(3)}"
    network = engine.networks.create(f"{project}_default", labels={COMPOSE_PROJECT: project, TEST_LABEL: "1"})
    ref = f"{sandbox.registry}/popcon/redis@{sandbox.images['popcon/redis:7.2']}"
    engine.images.pull(ref)
    labels = {OWNER_KEY: owner, COMPOSE_PROJECT: project, TEST_LABEL: "1"}
    ours = engine.containers.run(ref, detach=True, labels=labels, network=network.name)
    other = engine.containers.run(
        ref, detach=True, labels={**labels, OWNER_KEY: f"{owner}-else"}, network=network.name
    )
    host2 = docker.DockerClient(base_url=sandbox.engines[2].docker_host)
    host2.images.pull(ref)
    remote = host2.containers.run(ref, detach=True, labels={OWNER_KEY: owner, TEST_LABEL: "1"})
    events: list[str] = []
    try:
        # a state dir and ports where nothing runs: only the containers are affected
        down(tmp_path, on_event=events.append, owner=owner, moto_port=_free_port(), registry_port=_free_port())
        remaining = {c.id for c in engine.containers.list(all=True, filters={"label": TEST_LABEL})}
        assert ours.id not in remaining
        assert other.id in remaining  # another owner's container stays
        assert not host2.containers.list(all=True, filters={"id": remote.id})  # on every engine
    finally:
        for c in host2.containers.list(all=True, filters={"label": TEST_LABEL}):
            c.remove(force=True)
        host2.close()
    assert any("removed 1 container(s)" in e and project in e for e in events)
    assert any("(host-2): removed 1 container(s)" in e for e in events)
    assert any("moto server: not running" in e for e in events)
    assert any("docker engine: left running" in e for e in events)
    assert any("engine host-1: still answering" in e for e in events)  # not this state dir's: left running
    assert all(engines.docker_version(e.docker_host) for e in sandbox.engines)


@pytest.mark.world
def test_the_main_engine_default_bridge_still_works(sandbox: SandboxInfo, engine: docker.DockerClient) -> None:
    """After the extra engines started (and host-3 stopped): docker0 gives IPs, ports publish."""
    ref = f"{sandbox.registry}/popcon/frontend@{sandbox.images['popcon/frontend:1.5.0']}"
    engine.images.pull(ref)
    container = engine.containers.run(  # type: ignore[call-overload]  # stubs lack ports=(host, None)
        ref, detach=True, labels={TEST_LABEL: "1"}, ports={"3000/tcp": ("127.0.0.1", None)}
    )
    container.reload()
    settings = container.attrs["NetworkSettings"]
    assert ipaddress.ip_address(settings["Networks"]["bridge"]["IPAddress"]) in ipaddress.ip_network(
        engine.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"]
    )
    port = settings["Ports"]["3000/tcp"][0]["HostPort"]
    status_code, page = _get_when_up(f"http://127.0.0.1:{port}/")
    assert status_code == 200 and page.startswith("popcon-frontend 1.5.0\n")
    assert Path("/sys/class/net/docker0").exists()
