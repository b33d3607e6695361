"""The processes the sandbox starts: pidfiles, spawning, stopping and waiting. Does I/O.

Every daemon of the sandbox (an extra dockerd, the registry, moto, and any
simulated service added later) is started the same way: :func:`spawn` runs it
detached in its own session with its log and pidfile in the sandbox state dir,
:func:`wait` polls until it answers (or died, or timed out, naming its log),
:func:`read_pid` trusts a pidfile only when that process is alive and its
command line matches, and :func:`stop` ends only such a process. Also the small
probes every service uses (a loopback port, an HTTP GET) and the running of
system tools (``ip``, ``iptables``). Waiting uses the injected :class:`Clock`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.layout import HOST


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


def wait(
    what: str,
    ready: Callable[[], bool],
    clock: Clock,
    timeout: float,
    hint: str,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``ready`` until true; a clear error when ``alive`` says it died or ``timeout`` passes."""
    deadline = clock.now() + timeout
    while True:
        if ready():
            return
        if alive is not None and not alive():
            raise ReconcilerError(f"{what} exited while starting; {hint}")
        if clock.now() >= deadline:
            raise ReconcilerError(f"{what} did not become ready in {timeout:g} s; {hint}")
        clock.sleep(0.2)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-cased headers, body), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None


def port_answers(port: int) -> bool:
    """Something accepts connections on the loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, port)) == 0


def cmdline(pid: int) -> list[str]:
    """The command line of process ``pid`` ([] when it is gone)."""
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
    cmd = cmdline(pid)
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


def alive(pidfile: Path, expect: str) -> Callable[[], bool]:
    return lambda: read_pid(pidfile, expect) is not None


def spawn(argv: list[str], log: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
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


@dataclass(frozen=True)
class Daemon:
    """A daemon the sandbox runs on a loopback port from its state dir (the registry, moto, ...):
    its pidfile ``<name>.pid`` and log ``<name>.log`` there; ``expect`` is in its command line."""

    name: str  # registry, moto
    title: str  # in messages: registry, moto server
    kind: str  # what must answer on the port: a Docker registry, a moto server
    expect: str  # registry, moto_server
    answers: Callable[[int], bool]  # it answers on this loopback port

    def pidfile(self, state_dir: Path) -> Path:
        return state_dir / f"{self.name}.pid"

    def pid(self, state_dir: Path) -> int | None:
        """Its pid if this state dir started it and it runs."""
        return read_pid(self.pidfile(state_dir), self.expect)

    def running(self, state_dir: Path, port: int, address: str) -> Service | None:
        """What answers on the port (whoever started it), None if nothing; an error if a stranger."""
        if self.answers(port):
            pid = self.pid(state_dir)
            return Service(self.name, address, started=False, managed=pid is not None, pid=pid)
        if port_answers(port):
            raise ReconcilerError(f"port {HOST}:{port} is in use by something that is not {self.kind}")
        return None

    def start(self, state_dir: Path, port: int, address: str, argv: list[str], clock: Clock, timeout: float,
              env: dict[str, str] | None = None) -> Service:  # fmt: skip
        """Spawn it and wait until it answers on the port."""
        log, pidfile = state_dir / f"{self.name}.log", self.pidfile(state_dir)
        pid = spawn(argv, log, pidfile, env=env)
        wait(f"{self.title} on {address}", lambda: self.answers(port), clock, timeout, f"see {log}",
             alive(pidfile, self.expect))  # fmt: skip
        return Service(self.name, address, started=True, managed=True, pid=pid, log=log)

    def stop(self, state_dir: Path, clock: Clock) -> int | None:
        """Stop it if this state dir started it; returns its pid or None."""
        return stop(self.pidfile(state_dir), self.expect, clock)


def is_root() -> bool:
    return os.geteuid() == 0


def tool(name: str, package: str) -> str:
    """The path of a system tool, or a clear error naming the Debian package that has it."""
    found = shutil.which(name)
    if found is None:
        raise ReconcilerError(f"{name} not found; install the Debian package {package} (make install)")
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a short system command (ip, iptables), its output captured, never raising on failure."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
