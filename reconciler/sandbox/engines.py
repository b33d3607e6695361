"""The sandbox's Docker engines: the main engine (host-0) and the extra dockerd daemons. Does I/O.

The main engine is used as it is when it answers; it is started (as root)
only when missing, and never stopped. The extra engines (``host-1``,
``host-2``..., laid out by :class:`~reconciler.sandbox.layout.EngineDaemon`)
are more ``dockerd`` daemons on the same machine, each with its own socket,
exec root, pidfile and configuration under ``/run/reconciler-sandbox/<name>/``,
its data root in ``/var/lib/reconciler-sandbox/<name>`` and its own bridge and
address pool (:mod:`.network`); the state dir that started one records it
(``<state dir>/host-<i>.pid``) and only that state dir's ``down`` stops it.
Also the Docker API calls of the lifecycle: which engine answers, and the
reconciler's containers on an engine (listed, removed).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
from pathlib import Path
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.model import COMPOSE_PROJECT, OWNER_KEY
from reconciler.sandbox import network, processes
from reconciler.sandbox.layout import DEFAULT_DOCKER_HOST, Engine, EngineDaemon
from reconciler.sandbox.processes import Clock, Service

MAIN_PIDFILE = "dockerd.pid"  # in the state dir, when the sandbox started the main engine


def _unix_socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def docker_version(host: str) -> str | None:
    """The engine's version if it answers at host, else None."""
    import docker
    import docker.errors

    if host.startswith("unix://") and not _unix_socket_answers(host.removeprefix("unix://")):
        return None  # (the SDK leaks its socket when the connect fails)
    try:
        client = docker.DockerClient(base_url=host, timeout=5)
    except docker.errors.DockerException:
        return None
    try:
        version = client.version()
        return str(version.get("Version", "?"))
    except (docker.errors.DockerException, OSError, ValueError):
        return None
    finally:
        client.close()


def engine_state_pidfile(state_dir: Path, engine: EngineDaemon) -> Path:
    """The sandbox's own record that this state dir started the engine (``down`` stops it)."""
    return state_dir / f"{engine.name}.pid"


def engine_log(state_dir: Path, engine: EngineDaemon) -> Path:
    return state_dir / f"{engine.name}.log"


def started_pid(state_dir: Path, engine: EngineDaemon | None) -> int | None:
    """The pid of the engine's dockerd (None: the main engine) if this state dir started it."""
    if engine is None:
        return processes.read_pid(state_dir / MAIN_PIDFILE, "dockerd")
    return processes.read_pid(engine_state_pidfile(state_dir, engine), str(engine.socket))


def _answering(name: str, host: str, pid: int | None, version: str, *, managed: bool) -> Service:
    return Service(name, host, started=False, managed=managed, pid=pid, details={"version": version})


def _started(name: str, host: str, pid: int, log: Path) -> Service:
    details = {"version": docker_version(host) or "?"}
    return Service(name, host, started=True, managed=True, pid=pid, log=log, details=details)


def ensure_dockerd(state_dir: Path, host: str, clock: Clock, timeout: float = 30.0) -> Service:
    """The main engine answers at ``host``; start dockerd (root only, unix socket) if not."""
    version = docker_version(host)
    if version is not None:
        pid = started_pid(state_dir, None)
        return _answering("docker", host, pid, version, managed=pid is not None)
    if not host.startswith("unix://"):
        raise ReconcilerError(
            f"no Docker engine answers at {host} (DOCKER_HOST); start it, or unset DOCKER_HOST"
        )
    if not processes.is_root():
        raise ReconcilerError(
            f"no Docker engine answers at {host} and the sandbox can start one only as root; "
            "start it (sudo dockerd &) or run `sudo make sandbox`"
        )
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ReconcilerError("dockerd not found; install the Debian package docker.io (make install)")
    log, pidfile = state_dir / "dockerd.log", state_dir / MAIN_PIDFILE
    argv = [dockerd]
    if host != DEFAULT_DOCKER_HOST:
        argv += ["--host", host]
    rules = network.shared_chain_rules()
    pid = processes.spawn(argv, log, pidfile)
    processes.wait("dockerd", lambda: docker_version(host) is not None, clock, timeout, f"see {log}",
                   processes.alive(pidfile, "dockerd"))  # fmt: skip
    network.restore_chain_rules(rules)
    return _started("docker", host, pid, log)


def ensure_engine(state_dir: Path, engine: EngineDaemon, clock: Clock, timeout: float = 30.0) -> Service:
    """The extra engine answers on its socket; start its dockerd (root only) if not."""
    host = engine.docker_host
    expect = str(engine.socket)  # in the command line of exactly this engine's dockerd
    version = docker_version(host)
    if version is not None:
        pid = started_pid(state_dir, engine)
        return _answering(engine.name, host, pid, version, managed=pid is not None)
    if not processes.is_root():
        raise ReconcilerError(
            f"sandbox engine {engine.name}: no Docker engine answers at {host}, and the sandbox can start "
            "its extra engines only as root; run `sudo reconciler sandbox up` (or `sudo make sandbox`), "
            "or set RECONCILER_SANDBOX_ENGINES=1 for the main engine alone"
        )
    dockerd = processes.tool("dockerd", "docker.io")
    log, pidfile = engine_log(state_dir, engine), engine_state_pidfile(state_dir, engine)
    running = processes.read_pid(engine.pidfile, expect)
    if running is not None:  # starting (another sandbox's up), or hung
        processes.wait(
            f"dockerd of sandbox engine {engine.name} (pid {running}, not started by this call)",
            lambda: docker_version(host) is not None,
            clock,
            timeout,
            f"stop it (kill {running}) and run `reconciler sandbox up` again",
        )
        return _answering(engine.name, host, running, docker_version(host) or "?", managed=False)
    # stale leftovers of a dockerd that is gone (killed, machine rebooted without /run cleared)
    engine.pidfile.unlink(missing_ok=True)
    engine.socket.unlink(missing_ok=True)
    network.ensure_bridge(engine)
    engine.run_dir.mkdir(parents=True, exist_ok=True)
    engine.run_dir.chmod(0o700)
    engine.data_root.mkdir(parents=True, exist_ok=True)
    engine.config_file.write_text(json.dumps(engine.config(), indent=2) + "\n")
    rules = network.shared_chain_rules()
    ip = processes.tool("ip", "iproute2")
    docker0 = network.bridge_addresses(ip, "docker0")
    pid = processes.spawn(engine.argv(dockerd), log, pidfile)
    try:
        processes.wait(f"dockerd of sandbox engine {engine.name} at {host}", lambda: docker_version(host) is not None,
                       clock, timeout, f"see {log}", processes.alive(pidfile, expect))  # fmt: skip
    finally:
        network.restore_chain_rules(rules)
        if docker0 is not None and network.bridge_addresses(ip, "docker0") is None:
            network.recreate_bridge(ip, "docker0", docker0)  # never expected (live-restore); the main engine needs it
    return _started(engine.name, host, pid, log)


def stop_engine(state_dir: Path, engine: EngineDaemon, clock: Clock, timeout: float = 30.0) -> int | None:
    """Stop the engine's dockerd if this state dir started it; returns its pid or None.

    Its running containers are stopped first (1 s grace each), so the daemon
    exits fast and leaves no container behind; then its bridge is deleted
    unless a dockerd still uses it. Images, containers and volumes stay in
    its data root.
    """
    import docker
    import docker.errors

    expect = str(engine.socket)
    pidfile = engine_state_pidfile(state_dir, engine)
    if processes.read_pid(pidfile, expect) is None:
        pidfile.unlink(missing_ok=True)
        return None
    if docker_version(engine.docker_host) is not None:
        client = docker.DockerClient(base_url=engine.docker_host, timeout=60)
        try:
            for c in client.containers.list():
                with contextlib.suppress(docker.errors.APIError):
                    c.stop(timeout=1)
        finally:
            client.close()
    pid = processes.stop(pidfile, expect, clock, timeout)
    network.remove_bridge(engine)
    return pid


def remove_owned(engine: Engine, owner: str | None) -> str:
    """Remove the reconciler's containers on one engine, and their Compose projects' networks;
    returns what was done, as one line."""
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
    finally:
        client.close()
    return f"docker ({engine.name}): removed {len(owned)} container(s) owned by the reconciler" + (
        f" (projects {', '.join(projects)}; volumes kept)" if projects else ""
    )


def owned_containers(host: str) -> list[Any]:
    """Every container on the engine carrying the reconciler's ownership label."""
    import docker

    client = docker.DockerClient(base_url=host, timeout=30)
    try:
        return list(client.containers.list(all=True, filters={"label": OWNER_KEY}))
    finally:
        client.close()
