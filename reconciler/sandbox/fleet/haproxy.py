"""HAProxy as the sandbox's application load balancer: its configuration, its process and its runtime API. Does I/O.

Debian's ``haproxy`` (2.6) in the foreground (``-db``), its configuration in
``<state dir>/fleet/haproxy.cfg``: an HTTP frontend on ``127.0.0.1:<lb port>``
(the load balancer's DNS name's stand-in) and one backend per target group
that starts empty and checks its servers itself (``GET <health path>``,
status 200 expected, as an ALB's default matcher). Servers are added,
drained and deleted at run time through the admin socket
``/run/reconciler-sandbox/fleet/haproxy.sock`` (:class:`Runtime`) by the
agent (:mod:`.balancer`). No retries: a request sent to a target that stopped
answering fails, as it does behind an ALB, so a rollout that leaves a target
in service while it recreates it shows in the failed requests. With no
server up, HAProxy answers 503 (an ALB would fail open).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.fleet.layout import FLEET_RUN_ROOT, HEALTH_TIMEOUT, TIME_SCALE, FleetFiles, FleetGroup
from reconciler.sandbox.layout import HOST
from reconciler.sandbox.processes import Clock, Service

ADMIN_SOCKET = FLEET_RUN_ROOT / "haproxy.sock"


def config_path(files: FleetFiles) -> Path:
    return files.root / "haproxy.cfg"


def pidfile(files: FleetFiles) -> Path:
    return files.root / "haproxy.pid"


def config(group: FleetGroup, lb_port: int, admin_socket: Path = ADMIN_SOCKET) -> str:
    backend = group.target_group
    return "\n".join([
        "# Written by the reconciler sandbox: the load balancer of the fleet (servers come and go at run time).",
        "global",
        f"    stats socket {admin_socket} mode 600 level admin",
        "    maxconn 2000",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        f"    timeout check {int(HEALTH_TIMEOUT * TIME_SCALE * 1000)}ms",
        "    retries 0",
        f"frontend {group.load_balancer}",
        f"    bind {HOST}:{lb_port}",
        f"    default_backend {backend}",
        f"backend {backend}",
        "    balance roundrobin",
        f"    option httpchk GET {group.health_path}",
        "    http-check expect status 200",
        "",
    ])  # fmt: skip


def check_interval(interval: float) -> float:
    """Seconds between two checks of a server whose target group checks every ``interval`` seconds."""
    return int(interval * TIME_SCALE * 1000) / 1000


def server_options(interval: float, healthy: int, unhealthy: int) -> str:
    """The health check of a server added at run time, as its target group says, time compressed by
    :data:`~.layout.TIME_SCALE` (the backend's ``option httpchk`` gives the path). Weight 0: a server
    HAProxy enables is UP at once (its health starts at ``rise``), so it gets no request until the
    balancer has marked it down and given it its weight (:mod:`.balancer`)."""
    return f"check inter {int(check_interval(interval) * 1000)}ms rise {healthy} fall {unhealthy} weight 0"


def running(files: FleetFiles) -> int | None:
    return processes.read_pid(pidfile(files), str(config_path(files)))


def ensure(files: FleetFiles, group: FleetGroup, lb_port: int, clock: Clock, timeout: float = 10.0,
           admin_socket: Path = ADMIN_SOCKET) -> Service:  # fmt: skip
    """HAProxy runs with the current configuration; started (or restarted, when it changed) if not.
    (``admin_socket``: another load balancer than the fleet's, as a test makes.)"""
    address = f"http://{HOST}:{lb_port}"
    text = config(group, lb_port, admin_socket)
    cfg = config_path(files)
    pid = running(files)
    if pid is not None and cfg.is_file() and cfg.read_text() == text and admin_socket.exists():
        return Service("load balancer", address, started=False, managed=True, pid=pid)
    stop(files, clock, admin_socket)
    if processes.port_answers(lb_port):
        raise ReconcilerError(f"port {HOST}:{lb_port} is in use; set RECONCILER_SANDBOX_LB_PORT to a free port")
    binary = processes.tool("haproxy", "haproxy")
    files.root.mkdir(parents=True, exist_ok=True)
    admin_socket.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    check = processes.run([binary, "-c", "-q", "-f", str(cfg)])
    if check.returncode != 0:
        raise ReconcilerError(f"haproxy refuses {cfg}: {(check.stderr or check.stdout).strip()}")
    log = files.root / "haproxy.log"
    pid = processes.spawn([binary, "-db", "-f", str(cfg)], log, pidfile(files))
    processes.wait(f"the load balancer (haproxy) on {address}",
                   lambda: processes.port_answers(lb_port) and admin_socket.exists(), clock, timeout,
                   f"see {log}", processes.alive(pidfile(files), str(cfg)))  # fmt: skip
    return Service("load balancer", address, started=True, managed=True, pid=pid, log=log)


def stop(files: FleetFiles, clock: Clock, admin_socket: Path = ADMIN_SOCKET) -> int | None:
    pid = processes.stop(pidfile(files), str(config_path(files)), clock)
    admin_socket.unlink(missing_ok=True)
    return pid


MAINT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # SRV_ADMF_FMAINT, IMAINT, CMAINT, RMAINT, HMAINT
DRAIN_FLAGS = 0x08 | 0x10  # SRV_ADMF_FDRAIN, IDRAIN


@dataclass(frozen=True)
class Server:
    """One server of a backend as ``show stat`` and ``show servers state`` have it."""

    name: str  # the instance id
    address: str  # ip:port
    status: str  # health and state as ``show stat`` says: UP, DOWN, DRAIN, MAINT, "UP 1/2", "DOWN 1/2" ...
    sessions: int  # current sessions (in-flight requests)
    admin: str = "ready"  # ready | drain | maint (a DOWN server that drains still shows DOWN in its status)
    check_status: str = ""  # its last health check: INI (none yet), L7OK, L7STS (status), L4CON, L4TOUT ...
    check_code: str = ""  # the HTTP status of the last check ("" when it got none)
    down_transitions: int = 0  # chkdown: how many times it went from UP to DOWN since it was added
    last_change: int = 0  # lastchg: seconds since its last UP <-> DOWN transition

    @property
    def draining(self) -> bool:
        return self.admin != "ready"

    @property
    def up(self) -> bool:
        """It gets requests when it is ready: UP, or UP and going down ("UP 1/2")."""
        return self.status.startswith("UP") or self.status == "no check"


def admin_state(flags: int) -> str:
    """``srv_admin_state`` of ``show servers state`` as ready, drain or maint. Pure."""
    if flags & MAINT_FLAGS:
        return "maint"
    return "drain" if flags & DRAIN_FLAGS else "ready"


class Runtime:
    """HAProxy's runtime API over its admin socket: one command per connection."""

    def __init__(self, path: Path = ADMIN_SOCKET, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            try:
                s.connect(str(self.path))
                s.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            except OSError as e:
                raise ReconcilerError(f"haproxy's admin socket {self.path}: {e}") from None
        return b"".join(chunks).decode(errors="replace")

    def must(self, line: str) -> None:
        """A command that answers nothing (or a plain confirmation) when it worked."""
        answer = self.command(line).strip()
        if answer and not answer.lower().startswith(("new server registered", "server deleted", "done")):
            raise ReconcilerError(f"haproxy refused `{line}`: {answer}")

    def _admin_states(self, backend: str) -> dict[str, str]:
        """Server name -> ready | drain | maint (``show servers state``)."""
        lines = self.command(f"show servers state {backend}").splitlines()
        header = next((line[2:].split() for line in lines if line.startswith("# ")), [])
        if "srv_name" not in header or "srv_admin_state" not in header:
            return {}
        name, flags = header.index("srv_name"), header.index("srv_admin_state")
        rows = [line.split() for line in lines if line and not line.startswith("#") and len(line.split()) > flags]
        return {row[name]: admin_state(int(row[flags])) for row in rows}

    def servers(self, backend: str) -> dict[str, Server]:
        """The backend's servers by name (``show stat``, ``show servers state``)."""
        lines = self.command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        col = {name: i for i, name in enumerate(header)}
        admin = self._admin_states(backend)
        found = {}
        for line in lines[1:]:
            row = line.split(",")
            if len(row) < len(header) or row[col["pxname"]] != backend or row[col["svname"]] in ("FRONTEND", "BACKEND"):
                continue
            name = row[col["svname"]]
            check = row[col["check_status"]].removeprefix("* ").strip()  # "* ": a check is running
            found[name] = Server(name, row[col["addr"]], row[col["status"]], int(row[col["scur"]] or 0),
                                 admin.get(name, "ready"), check, row[col["check_code"]], _int(row[col["chkdown"]]),
                                 _int(row[col["lastchg"]]))  # fmt: skip
        return found


def _int(text: str) -> int:
    return int(text) if text.strip().isdigit() else 0
