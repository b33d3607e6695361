"""The embedded sandbox: Docker engines, a local registry and moto, on loopback.

``up`` makes the sandbox whole and is idempotent: it starts what does not
answer (dockerd only as root), pushes the demo images the registry lacks and
seeds moto with what terraform would have created, the state store's
DynamoDB table included (moto forgets everything when it restarts). ``down``
stops the registry, moto and extra engines it started and removes the
containers the reconciler owns on every engine; the main Docker engine keeps
running. ``status`` reports what runs.

Engines ("hosts"): ``host-0`` is the main engine (``$DOCKER_HOST``, else
``unix:///var/run/docker.sock``); ``host-1``, ``host-2``... are extra dockerd
daemons the sandbox starts (as root) with fixed, machine-wide paths, so
:func:`endpoints` computes them without I/O and whatever the working directory:
socket ``unix:///run/reconciler-sandbox/host-<i>/docker.sock``, exec root and
pidfile beside it, data root ``/var/lib/reconciler-sandbox/host-<i>``, bridge
``rcsb<i>`` at ``10.<200+i>.0.1/24`` and networks from ``10.<200+i>.16.0/20``
(see :class:`.services.EngineDaemon`). RECONCILER_SANDBOX_ENGINES sets how
many engines in all (default 3, at least 1: the main engine alone). The state
dir that started an extra engine records it (``<state dir>/host-<i>.pid``,
log ``host-<i>.log``) and only its ``down`` stops it. This module is the sandbox's composition root:
it builds the boto3 and Docker clients and hands them to :mod:`.seed`,
:mod:`.images` and :mod:`.services`, which do the I/O.

Ports: moto 4566 and registry 5000, overridable with the environment
variables RECONCILER_SANDBOX_MOTO_PORT and RECONCILER_SANDBOX_REGISTRY_PORT;
the state dir defaults to ``./.sandbox`` (RECONCILER_SANDBOX_DIR).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, OWNER_KEY
from reconciler.sandbox import images, seed, services
from reconciler.sandbox.services import HOST, Clock

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ssm import SSMClient

__all__ = [
    "Endpoints", "Engine", "SandboxInfo", "default_state_dir", "down", "endpoints", "status", "up",
]  # fmt: skip

DEFAULT_MOTO_PORT = 4566
DEFAULT_REGISTRY_PORT = 5000
DEFAULT_ENGINES = 3  # host-0 (the main engine), host-1, host-2
REGION = seed.REGION
CREDENTIALS = ("testing", "testing")  # moto accepts any; access key id, secret key

Events = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Engine:
    """One Docker engine of the sandbox (a simulated host)."""

    name: str  # host-0, host-1, ...
    docker_host: str  # unix:///var/run/docker.sock, unix:///run/reconciler-sandbox/host-1/docker.sock


@dataclass(frozen=True)
class Endpoints:
    """Where the sandbox's services answer (computed, no I/O)."""

    moto_url: str
    registry: str
    docker_host: str  # = engines[0].docker_host, the main engine
    region: str = REGION
    engines: tuple[Engine, ...] = ()


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


def _port(var: str, default: int) -> int:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ReconcilerError(f"{var}={raw!r} is not a TCP port")
    return int(raw)


def _engine_count() -> int:
    var = "RECONCILER_SANDBOX_ENGINES"
    raw = os.environ.get(var, "").strip()
    if not raw:
        return DEFAULT_ENGINES
    if not raw.isdigit() or not 1 <= int(raw) < services.MAX_ENGINES:
        raise ReconcilerError(f"{var}={raw!r} is not a number of engines (1 to {services.MAX_ENGINES - 1})")
    return int(raw)


def extra_engines() -> tuple[services.EngineDaemon, ...]:
    """The daemons behind host-1, host-2, ... (RECONCILER_SANDBOX_ENGINES - 1 of them)."""
    return tuple(services.EngineDaemon(i) for i in range(1, _engine_count()))


def endpoints(moto_port: int | None = None, registry_port: int | None = None) -> Endpoints:
    """The sandbox addresses: explicit ports, else the environment, else 4566/5000."""
    moto = moto_port or _port("RECONCILER_SANDBOX_MOTO_PORT", DEFAULT_MOTO_PORT)
    registry = registry_port or _port("RECONCILER_SANDBOX_REGISTRY_PORT", DEFAULT_REGISTRY_PORT)
    main = services.docker_host()
    engines = (Engine("host-0", main), *(Engine(e.name, e.docker_host) for e in extra_engines()))
    return Endpoints(f"http://{HOST}:{moto}", f"{HOST}:{registry}", main, engines=engines)


def default_state_dir(root: Path | None = None) -> Path:
    """$RECONCILER_SANDBOX_DIR, else <root or cwd>/.sandbox."""
    env = os.environ.get("RECONCILER_SANDBOX_DIR")
    if env:
        return Path(env).absolute()
    return (root or Path.cwd()).absolute() / ".sandbox"


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


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _aws_clients(moto_url: str) -> tuple[SSMClient, ECRClient, DynamoDBClient]:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1]
    )
    ssm = session.client("ssm", endpoint_url=moto_url, config=config)
    ecr = session.client("ecr", endpoint_url=moto_url, config=config)
    dynamodb = session.client("dynamodb", endpoint_url=moto_url, config=config)
    return ssm, ecr, dynamodb


def _describe(svc: services.Service, what: str) -> str:
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
    clock: Clock | None = None,
) -> SandboxInfo:
    """Make the sandbox whole; start, push and seed only what is missing."""
    clock = clock or Clock()
    where = endpoints(moto_port, registry_port)
    state_dir = state_dir.absolute()
    t0 = time.monotonic()
    started: list[str] = []
    with _locked(state_dir):
        docker = services.ensure_dockerd(state_dir, where.docker_host, clock)
        on_event(_describe(docker, "docker engine"))
        hosts = []
        for extra in extra_engines():
            hosts.append(services.ensure_engine(state_dir, extra, clock))
            on_event(_describe(hosts[-1], f"engine {extra.name}"))
        compose = services.ensure_compose_plugin()
        on_event(
            f"docker compose: plugin linked at {compose.address}"
            if compose.started
            else f"docker compose: plugin at {compose.address}"
        )
        registry = services.ensure_registry(state_dir, _port_of(where.registry), clock)
        on_event(_describe(registry, "registry"))
        moto = services.ensure_moto(state_dir, _port_of(where.moto_url), clock)
        on_event(_describe(moto, "moto server"))
        started = [s.name for s in (docker, *hosts, compose, registry, moto) if s.started]

        busybox = images.find_busybox()
        built = images.build(images.DEMO_IMAGES, busybox.read_bytes(), images.read_demo_files())
        digests, pushed = images.publish(built, where.registry, on_event)

        ssm, ecr, dynamodb = _aws_clients(where.moto_url)
        try:
            seeded = seed.seed_ecr(ecr, built, on_event) + seed.seed_parameters(ssm, on_event)
            seeded += seed.seed_state_table(dynamodb, on_event)
        finally:
            ssm.close()
            ecr.close()
            dynamodb.close()
    on_event(f"sandbox ready in {time.monotonic() - t0:.1f} s (state in {state_dir})")
    return SandboxInfo(
        moto_url=where.moto_url,
        registry=where.registry,
        docker_host=where.docker_host,
        state_dir=state_dir,
        region=where.region,
        images=digests,
        started=tuple(started),
        pushed=tuple(pushed),
        seeded=tuple(seeded),
        engines=where.engines,
    )


def _remove_owned(engine: Engine, owner: str | None, on_event: Events) -> None:
    """Remove the reconciler's containers on one engine, and their Compose projects' networks."""
    import docker
    import docker.errors

    client = docker.DockerClient(base_url=engine.docker_host, timeout=60)
    try:
        label = f"{OWNER_KEY}={owner}" if owner else OWNER_KEY
        owned = client.containers.list(all=True, filters={"label": label})
        projects = sorted({c.labels.get(COMPOSE_PROJECT, "") for c in owned} - {""})
        for c in owned:
            c.remove(force=True)
        for project in projects:
            for net in client.networks.list(filters={"label": f"{COMPOSE_PROJECT}={project}"}):
                with contextlib.suppress(docker.errors.APIError):
                    net.remove()
        on_event(
            f"docker ({engine.name}): removed {len(owned)} container(s) owned by the reconciler"
            + (f" (projects {', '.join(projects)}; volumes kept)" if projects else "")
        )
    finally:
        client.close()


def _owned_containers(host: str) -> list[Any]:
    import docker

    client = docker.DockerClient(base_url=host, timeout=30)
    try:
        return list(client.containers.list(all=True, filters={"label": OWNER_KEY}))
    finally:
        client.close()


def down(
    state_dir: Path,
    *,
    on_event: Events = _quiet,
    remove_containers: bool = True,
    owner: str | None = None,
    moto_port: int | None = None,
    registry_port: int | None = None,
    clock: Clock | None = None,
) -> None:
    """Stop the sandbox's registry, moto and extra engines; remove the reconciler's containers.

    Containers, on every engine: every one carrying the ownership label (any
    environment), or only ``owner``'s. Only processes the sandbox started
    (its pidfiles in state_dir) are stopped; an extra engine's other
    containers stop with it. Named volumes, the engines' data roots and the
    registry's storage are kept; the main Docker engine keeps running.
    """
    clock = clock or Clock()
    where = endpoints(moto_port, registry_port)
    state_dir = state_dir.absolute()
    with _locked(state_dir):
        if remove_containers:
            for engine in where.engines:
                if services.docker_version(engine.docker_host) is not None:
                    _remove_owned(engine, owner, on_event)
        for extra in extra_engines():
            pid = services.stop_engine(state_dir, extra, clock)
            if pid is not None:
                on_event(f"engine {extra.name}: stopped (pid {pid}), its containers with it")
            elif services.docker_version(extra.docker_host) is not None:
                on_event(f"engine {extra.name}: still answering at {extra.docker_host}, "
                         "not started by this sandbox: left running")  # fmt: skip
            else:
                on_event(f"engine {extra.name}: not running")
        stoppable: tuple[tuple[str, str, str, str, Callable[[int], bool]], ...] = (
            ("moto server", "moto.pid", "moto_server", where.moto_url, services.moto_answers),
            ("registry", "registry.pid", "registry", where.registry, services.registry_answers),
        )
        for name, pidfile, expect, address, answers in stoppable:
            pid = services.stop(state_dir / pidfile, expect, clock)
            if pid is not None:
                on_event(f"{name}: stopped (pid {pid})")
            elif answers(_port_of(address)):
                on_event(f"{name}: still answering at {address}, not started by the sandbox: left running")
            else:
                on_event(f"{name}: not running")
        on_event(f"docker engine: left running at {where.docker_host} (stop it yourself if you started it)")


def status(
    state_dir: Path, *, moto_port: int | None = None, registry_port: int | None = None
) -> dict[str, Any]:
    """What runs, as plain JSON-able data."""
    where = endpoints(moto_port, registry_port)
    state_dir = state_dir.absolute()
    version = services.docker_version(where.docker_host)
    engines: list[dict[str, Any]] = []
    for engine, extra in zip(where.engines, (None, *extra_engines()), strict=True):
        engine_version = version if extra is None else services.docker_version(engine.docker_host)
        pid = services.read_pid(
            *(
                (state_dir / "dockerd.pid", "dockerd")
                if extra is None
                else (services.engine_state_pidfile(state_dir, extra), str(extra.socket))
            )
        )
        engines.append(
            {
                "name": engine.name,
                "docker_host": engine.docker_host,
                "running": engine_version is not None,
                "version": engine_version,
                "managed": pid is not None,
                "pid": pid,
            }
        )
    registry_up = services.registry_answers(_port_of(where.registry))
    moto_up = services.moto_answers(_port_of(where.moto_url))
    plugin = services.compose_plugin()
    result: dict[str, Any] = {
        "state_dir": str(state_dir),
        "docker": {
            "address": where.docker_host,
            "running": version is not None,
            "version": version,
            "managed": services.read_pid(state_dir / "dockerd.pid", "dockerd") is not None,
        },
        "engines": engines,
        "compose": {"plugin": str(plugin) if plugin else None},
        "registry": {
            "address": where.registry,
            "running": registry_up,
            "pid": services.read_pid(state_dir / "registry.pid", "registry"),
        },
        "moto": {
            "address": where.moto_url,
            "running": moto_up,
            "pid": services.read_pid(state_dir / "moto.pid", "moto_server"),
        },
        "images": {},
        "containers": [],
    }
    for key in ("registry", "moto"):
        result[key]["managed"] = result[key]["pid"] is not None
    if registry_up:
        client = images.RegistryClient(where.registry)
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
        for e in engines
        if e["running"]
        for c in _owned_containers(e["docker_host"])
    ]
    return result
