"""One instance's engine: its namespace, sshd, dockerd and registry forwarder, started and removed. Does I/O.

:func:`start` makes the instance's network namespace (:mod:`.netns`) and runs
three processes in it (``nsenter --net``: the namespace's network, the host's
file system): ``sshd`` on the private IP's port 22 accepting only the
sandbox's key, with ``DOCKER_HOST`` set to the instance's engine for the
sessions (``docker system dial-stdio`` is what ``ssh://`` clients run);
``dockerd`` with its own socket, data root, exec root, pidfile, containerd
namespaces, bridge and address pool (:class:`~.layout.InstanceEngine`); and a
``socat`` listening on 127.0.0.1:<registry port> inside the namespace that
forwards to the host's registry through a unix socket (unix sockets ignore
network namespaces), so the instance pulls ``127.0.0.1:<port>/popcon/...``
under the names the host uses, as an instance pulls from ECR. The host end of
that socket is one more ``socat`` (:func:`ensure_forwarder`). Pidfiles and
logs are in ``<state dir>/fleet/<instance id>/``. :func:`stop` ends them all
(dockerd first, so its containers stop), deletes the namespace and the data
root: a terminated instance loses its disk.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.engines import docker_version
from reconciler.sandbox.fleet import netns
from reconciler.sandbox.fleet.layout import FLEET_RUN_ROOT, REGISTRY_SOCKET, FleetFiles, InstanceEngine
from reconciler.sandbox.processes import Clock


@dataclass(frozen=True)
class Part:
    """One process of an instance: its pidfile and log, and what its command line contains."""

    name: str  # dockerd, sshd, forwarder
    pidfile: Path
    log: Path
    expect: str


def parts(files: FleetFiles, engine: InstanceEngine) -> tuple[Part, Part, Part]:
    where = files.instance_dir(engine.instance_id)
    sshd_config = where / "sshd_config"
    return (
        Part("dockerd", where / "dockerd.pid", where / "dockerd.log", str(engine.socket)),
        Part("sshd", where / "sshd.pid", where / "sshd.log", str(sshd_config)),
        Part("forwarder", where / "forwarder.pid", where / "forwarder.log", str(REGISTRY_SOCKET)),
    )


def ssh_answers(address: str, timeout: float = 1.0) -> bool:
    """An ssh server greets on address:22."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def running(files: FleetFiles, engine: InstanceEngine) -> bool:
    """Every process of the instance runs (cheap: pidfiles and /proc, no call to the engine)."""
    return all(processes.read_pid(p.pidfile, p.expect) is not None for p in parts(files, engine))


def start(files: FleetFiles, engine: InstanceEngine, registry_port: int, clock: Clock, timeout: float = 60.0) -> bool:
    """The instance's engine runs and answers over ssh; False if it already did, True if started now."""
    if running(files, engine):
        return False
    stop(files, engine, clock, keep_disk=True)  # what is left of an earlier start, or a crashed process
    dockerd = processes.tool("dockerd", "docker.io")
    sshd = processes.tool("sshd", "openssh-server")
    socat = processes.tool("socat", "socat")
    processes.tool("nsenter", "util-linux")
    netns.add_namespace(engine)
    for folder in (engine.run_dir, files.instance_dir(engine.instance_id)):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
    engine.data_root.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    (engine.run_dir / "daemon.json").write_text(json.dumps(engine.daemon_json(), indent=2) + "\n")
    d, s, f = parts(files, engine)
    Path(s.expect).write_text(engine.sshd_config(files))
    processes.spawn(engine.dockerd_argv(dockerd), d.log, d.pidfile)
    processes.spawn(engine.in_netns([sshd, "-D", "-e", "-f", s.expect]), s.log, s.pidfile)
    processes.spawn(engine.forwarder_argv(socat, registry_port), f.log, f.pidfile)
    what = f"instance {engine.instance_id} ({engine.private_ip})"
    for part, ready in (
        (d, lambda: docker_version(f"unix://{engine.socket}") is not None),
        (s, lambda: ssh_answers(engine.private_ip)),
    ):
        processes.wait(f"{part.name} of {what}", ready, clock, timeout, f"see {part.log}",
                       processes.alive(part.pidfile, part.expect))  # fmt: skip
    if processes.read_pid(f.pidfile, f.expect) is None:
        raise ReconcilerError(f"the registry forwarder of {what} exited; see {f.log}")
    return True


def _umount_below(folder: Path) -> None:
    """Lazily unmount whatever is still mounted under folder (a dockerd that did not stop cleanly)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    for point in sorted((p for p in points if p.startswith(f"{folder}/")), key=len, reverse=True):
        processes.run(["umount", "-l", point])


def _kill_namespace_pids(name: str, clock: Clock) -> None:
    """End any process still in the namespace (TERM, then KILL)."""
    ip = processes.tool("ip", "iproute2")
    for signal_name, pause in (("TERM", 2.0), ("KILL", 1.0)):
        got = processes.run([ip, "netns", "pids", name])
        pids = got.stdout.split() if got.returncode == 0 else []
        if not pids:
            return
        processes.run(["kill", f"-{signal_name}", *pids])
        deadline = clock.now() + pause
        while clock.now() < deadline and processes.run([ip, "netns", "pids", name]).stdout.split():
            clock.sleep(0.1)


def stop(files: FleetFiles, engine: InstanceEngine, clock: Clock, *, keep_disk: bool = False) -> bool:
    """Stop the instance's processes, delete its namespace, run dir and (unless ``keep_disk``: an engine
    restarted on a running instance keeps its images and containers) data root; True if anything ran."""
    d, s, f = parts(files, engine)
    ran = processes.stop(d.pidfile, d.expect, clock, timeout=20.0) is not None  # its containers stop with it
    for part in (s, f):
        ran = (processes.stop(part.pidfile, part.expect, clock, timeout=5.0) is not None) or ran
    remove_namespace(engine.netns, clock)
    netns.delete_namespace(engine)
    for folder in (engine.run_dir,) if keep_disk else (engine.run_dir, engine.data_root):
        _umount_below(folder)
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(files.instance_dir(engine.instance_id), ignore_errors=True)
    return ran


def remove_namespace(name: str, clock: Clock) -> None:
    """End what still runs in a fleet namespace and delete it (also one no state dir knows)."""
    _kill_namespace_pids(name, clock)
    netns.delete_namespace_named(name)


def ensure_forwarder(files: FleetFiles, registry_port: int, clock: Clock, timeout: float = 10.0) -> bool:
    """The host end of the registry forwarders: a unix socket relaying to 127.0.0.1:<registry port>."""
    pidfile = files.forwarder_pidfile
    if processes.read_pid(pidfile, str(REGISTRY_SOCKET)) is not None and REGISTRY_SOCKET.exists():
        return False
    processes.stop(pidfile, str(REGISTRY_SOCKET), clock)
    FLEET_RUN_ROOT.mkdir(parents=True, exist_ok=True)
    FLEET_RUN_ROOT.chmod(0o700)
    socat = processes.tool("socat", "socat")
    argv = [socat, f"UNIX-LISTEN:{REGISTRY_SOCKET},fork,unlink-early,mode=600",
            f"TCP:127.0.0.1:{registry_port}"]  # fmt: skip
    log = files.root / "registry-forward.log"
    processes.spawn(argv, log, pidfile)
    processes.wait("the fleet's registry forwarder", REGISTRY_SOCKET.exists, clock, timeout, f"see {log}",
                   processes.alive(pidfile, str(REGISTRY_SOCKET)))  # fmt: skip
    return True


def stop_forwarder(files: FleetFiles, clock: Clock) -> int | None:
    pid = processes.stop(files.forwarder_pidfile, str(REGISTRY_SOCKET), clock)
    REGISTRY_SOCKET.unlink(missing_ok=True)
    return pid
