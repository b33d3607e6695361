"""The sandbox's lifecycle: ``up``, ``down`` and ``status``, and what the command line prints of them. Does I/O.

``up`` makes the sandbox whole and is idempotent: it starts what does not
answer (dockerd only as root; the hub, the registry behind a Docker Hub-like
token service, after the registry), pushes the demo images the registry lacks and
seeds moto with what terraform would have created, the state store's
DynamoDB table included (moto forgets everything when it restarts). ``down``
stops the registry, the AWS front, moto and extra engines this state dir started and removes
the containers the reconciler owns on every engine; the main Docker engine
keeps running. ``status`` reports what runs, as plain data. One ``up`` or
``down`` at a time per state dir (a lock file). This module only orders the
steps: each service is run by its own module (:mod:`.engines`,
:mod:`.compose_plugin`, :mod:`.registry`, :mod:`.moto` with the AWS front
(:mod:`.front`) on the AWS port, :mod:`.seed`), and a
new simulated service is one more step here.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, OWNER_KEY
from reconciler.sandbox import compose_plugin, engines, hub, images, moto, registry, seed
from reconciler.sandbox.fleet import lifecycle as fleet
from reconciler.sandbox.fleet import report as fleet_report
from reconciler.sandbox.fleet.layout import lb_url
from reconciler.sandbox.layout import REGION, Engine, endpoints, extra_engines
from reconciler.sandbox.processes import Clock, Service

__all__ = ["SandboxInfo", "down", "ready_line", "status", "status_lines", "up"]

Events = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class SandboxInfo:
    """What ``up`` made available, and what this call had to do for it."""

    moto_url: str  # http://127.0.0.1:4566
    registry: str  # 127.0.0.1:5000 (plain http)
    docker_host: str  # unix:///var/run/docker.sock
    state_dir: Path
    region: str = REGION
    images: Mapping[str, str] = field(default_factory=dict)  # "popcon/backend:2.1.0" -> sha256 digest
    started: tuple[str, ...] = ()  # services this call started: docker, registry, moto, compose
    pushed: tuple[str, ...] = ()  # demo images this call pushed (repository:tag)
    seeded: tuple[str, ...] = ()  # moto resources this call created
    engines: tuple[Engine, ...] = ()  # host-0 (= docker_host), host-1, ...
    hub: str = ""  # 127.0.0.1:5001: the registry behind a token service, as Docker Hub serves it
    load_balancer: str = ""  # http://127.0.0.1:8080, the fleet's (empty when the fleet is left out)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One up/down at a time per state dir (parallel test sessions, two shells)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        state_dir.chmod(0o700)
    with open(state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _describe(svc: Service, what: str) -> str:
    if svc.started:
        return f"{what}: started at {svc.address} (pid {svc.pid}, log {svc.log})"
    who = "sandbox" if svc.managed else "not started by the sandbox"
    extra = f", {', '.join(f'{k} {v}' for k, v in svc.details.items())}" if svc.details else ""
    return f"{what}: already running at {svc.address} ({who}{extra})"


def up(
    state_dir: Path,
    *,
    on_event: Events = _quiet,
    moto_port: int | None = None,
    registry_port: int | None = None,
    hub_port: int | None = None,
    clock: Clock | None = None,
    moto_internal_port: int | None = None,
) -> SandboxInfo:
    """Make the sandbox whole; start, push and seed only what is missing."""
    clock = clock or Clock()
    where = endpoints(moto_port, registry_port, hub_port, moto_internal_port)
    state_dir = state_dir.absolute()
    t0 = time.monotonic()
    with _locked(state_dir):
        docker = engines.ensure_dockerd(state_dir, where.docker_host, clock)
        on_event(_describe(docker, "docker engine"))
        hosts = []
        for extra in extra_engines():
            hosts.append(engines.ensure_engine(state_dir, extra, clock))
            on_event(_describe(hosts[-1], f"engine {extra.name}"))
        compose = compose_plugin.ensure_compose_plugin()
        on_event(f"docker compose: plugin {'linked ' if compose.started else ''}at {compose.address}")
        local = registry.ensure_registry(state_dir, where.registry_port, clock)
        on_event(_describe(local, "registry"))
        front = hub.ensure_hub(state_dir, where.hub_port, where.registry, clock)
        on_event(_describe(front, "hub (token auth)"))
        aws, aws_front = moto.ensure_aws(state_dir, where, clock, on_event)
        on_event(_describe(aws, "moto server"))
        on_event(_describe(aws_front, "AWS front (target health from the load balancer)"))
        started = [s.name for s in (docker, *hosts, compose, local, front, aws, aws_front) if s.started]

        built = images.build(images.DEMO_IMAGES, images.find_busybox().read_bytes(), images.read_demo_files())
        digests, pushed = registry.publish(built, where.registry, on_event)

        with moto.clients(where.moto_url) as made:
            seeded = seed.seed_ecr(made.ecr, built, on_event) + seed.seed_parameters(made.ssm, on_event)
            seeded += seed.seed_state_table(made.dynamodb, on_event)
        # through the front: the fleet's agent sees the groups as AWS shows them (no registration the group
        # has not made, Pending:Wait), and what up launches is known to the front's Auto Scaling
        made_fleet = fleet.up(state_dir, where.moto_url, where.registry_port, clock, on_event)
        started += made_fleet.started
        seeded += made_fleet.seeded
    on_event(f"sandbox ready in {time.monotonic() - t0:.1f} s (state in {state_dir})")
    return SandboxInfo(
        moto_url=where.moto_url,
        registry=where.registry,
        hub=where.hub,
        docker_host=where.docker_host,
        state_dir=state_dir,
        region=where.region,
        images=digests,
        started=tuple(started),
        pushed=tuple(pushed),
        seeded=tuple(seeded),
        engines=where.engines,
        load_balancer=lb_url() if fleet.enabled() else "",
    )


def down(
    state_dir: Path,
    *,
    on_event: Events = _quiet,
    remove_containers: bool = True,
    owner: str | None = None,
    moto_port: int | None = None,
    registry_port: int | None = None,
    hub_port: int | None = None,
    clock: Clock | None = None,
    moto_internal_port: int | None = None,
) -> None:
    """Stop the sandbox's registry, moto and extra engines; remove the reconciler's containers.

    Containers, on every engine: every one carrying the ownership label (any
    environment), or only ``owner``'s. Only processes the sandbox started
    (its pidfiles in state_dir) are stopped; an extra engine's other
    containers stop with it. Named volumes, the engines' data roots and the
    registry's storage are kept; the main Docker engine keeps running.
    """
    clock = clock or Clock()
    where = endpoints(moto_port, registry_port, hub_port, moto_internal_port)
    state_dir = state_dir.absolute()
    with _locked(state_dir):
        if remove_containers:
            for engine in where.engines:
                if engines.docker_version(engine.docker_host) is not None:
                    on_event(engines.remove_owned(engine, owner))
        for extra in extra_engines():
            pid = engines.stop_engine(state_dir, extra, clock)
            if pid is not None:
                on_event(f"engine {extra.name}: stopped (pid {pid}), its containers with it")
            elif engines.docker_version(extra.docker_host) is not None:
                on_event(f"engine {extra.name}: still answering at {extra.docker_host}, "
                         "not started by this sandbox: left running")  # fmt: skip
            else:
                on_event(f"engine {extra.name}: not running")
        fleet.down(state_dir, where.moto_server_url, moto.moto_answers(where.moto_server_port), clock, on_event)
        for daemon, port, address in (
            (hub.DAEMON, where.hub_port, where.hub),
            (moto.FRONT, where.moto_port, where.moto_url),
            (moto.DAEMON, where.moto_server_port, where.moto_server_url),
            (registry.DAEMON, where.registry_port, where.registry),
        ):
            pid = daemon.stop(state_dir, clock)
            if pid is not None:
                on_event(f"{daemon.title}: stopped (pid {pid})")
            elif daemon.answers(port):
                on_event(f"{daemon.title}: still answering at {address}, not started by the sandbox: left running")
            else:
                on_event(f"{daemon.title}: not running")
        on_event(f"docker engine: left running at {where.docker_host} (stop it yourself if you started it)")


def status(
    state_dir: Path,
    *,
    moto_port: int | None = None,
    registry_port: int | None = None,
    hub_port: int | None = None,
    moto_internal_port: int | None = None,
) -> dict[str, Any]:
    """What runs, as plain JSON-able data."""
    where = endpoints(moto_port, registry_port, hub_port, moto_internal_port)
    state_dir = state_dir.absolute()
    version = engines.docker_version(where.docker_host)
    found: list[dict[str, Any]] = []
    for engine, extra in zip(where.engines, (None, *extra_engines()), strict=True):
        engine_version = version if extra is None else engines.docker_version(engine.docker_host)
        pid = engines.started_pid(state_dir, extra)
        found.append({"name": engine.name, "docker_host": engine.docker_host, "running": engine_version is not None,
                      "version": engine_version, "managed": pid is not None, "pid": pid})  # fmt: skip
    registry_up = registry.registry_answers(where.registry_port)
    plugin = compose_plugin.compose_plugin()
    result: dict[str, Any] = {
        "state_dir": str(state_dir),
        "docker": {
            "address": where.docker_host,
            "running": version is not None,
            "version": version,
            "managed": engines.started_pid(state_dir, None) is not None,
        },
        "engines": found,
        "compose": {"plugin": str(plugin) if plugin else None},
        "registry": {"address": where.registry, "running": registry_up, "pid": registry.DAEMON.pid(state_dir)},
        "hub": {
            "address": where.hub,
            "running": hub.hub_answers(where.hub_port),
            "pid": hub.DAEMON.pid(state_dir),
            "realm": where.hub_realm,
        },
        "moto": {
            "address": where.moto_url,  # the AWS endpoint: the front, moto behind it
            "running": moto.moto_answers(where.moto_port),
            "pid": moto.DAEMON.pid(state_dir),
            "server": where.moto_server_url,
        },
        "aws_front": {
            "address": where.moto_url,
            "running": moto.front_answers(where.moto_port),
            "pid": moto.FRONT.pid(state_dir),
            "upstream": where.moto_server_url,
        },
        "images": {},
        "containers": [],
    }
    for key in ("registry", "hub", "moto", "aws_front"):
        result[key]["managed"] = result[key]["pid"] is not None
    if registry_up:
        client = registry.RegistryClient(where.registry)
        result["images"] = {i.ref: client.manifest_digest(i.repository, i.tag) for i in images.DEMO_IMAGES}
    result["containers"] = [
        {
            "engine": e["name"],
            "name": c.name,
            "project": c.labels.get(COMPOSE_PROJECT),
            "service": c.labels.get(COMPOSE_SERVICE),
            "owner": c.labels.get(OWNER_KEY),
            "state": c.status,
        }
        for e in found
        if e["running"]
        for c in engines.owned_containers(e["docker_host"])
    ]
    fleet_part = fleet_report.status(state_dir, where.moto_server_url, moto.moto_answers(where.moto_server_port))
    result["load_balancer"] = fleet_part.pop("load_balancer")
    result["groups"] = fleet_part.pop("groups")
    result["fleet"] = fleet_part
    return result


def ready_line(info: SandboxInfo) -> str:
    """What ``reconciler sandbox up`` says last: where everything answers."""
    listed = ", ".join(f"{e.name} {e.docker_host}" for e in info.engines)
    fleet_part = f"; the fleet behind {info.load_balancer} (`sandbox status`)" if info.load_balancer else ""
    return (
        f"Sandbox ready: AWS (moto) {info.moto_url}, registry {info.registry} (and behind token auth, as "
        f"Docker Hub: {info.hub}), Docker engines: {listed}{fleet_part}"
    )


def status_lines(report: Mapping[str, Any]) -> list[str]:
    """``reconciler sandbox status``: one line per key of :func:`status`, one per engine, then the fleet's
    (the load balancer, each group and its instances)."""
    lines = []
    for key, value in report.items():
        if key in ("load_balancer", "groups", "fleet"):
            continue
        if key != "engines":
            lines.append(f"{key}: {value}")
            continue
        for e in value:
            state = f"running {e['version']}" if e["running"] else "not running"
            managed = f", started by the sandbox (pid {e['pid']})" if e["managed"] else ""
            lines.append(f"engine {e['name']}: {e['docker_host']} {state}{managed}")
    if "fleet" in report:
        lines += fleet_report.lines({**report["fleet"], "load_balancer": report["load_balancer"],
                                     "groups": report["groups"]})  # fmt: skip
    return lines
