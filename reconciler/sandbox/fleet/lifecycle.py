"""The fleet's ``up``, ``down`` and ``status``, as steps of the sandbox's. Does I/O.

``up`` (root only; RECONCILER_SANDBOX_FLEET=0 leaves the fleet out) makes
the ssh keys and client configuration, the bridge and the host end of the
registry forwarders, seeds moto (:mod:`.aws`), starts the engines of the
instances moto runs (in parallel, waiting for them), the load balancer, and
the agent that follows moto from then on. One fleet per machine: the state
dir that made it is recorded in ``/run/reconciler-sandbox/fleet/owner``, and
an ``up`` or ``down`` from another state dir leaves it alone (like the extra
engines). ``down`` stops the agent, removes the group and its resources from
moto (when moto still answers), every fleet namespace with its processes and
data root, the load balancer and its declaration (:mod:`.followed`), the
forwarder, the bridge and the ssh drop-in. ``up`` and the agent talk to the
AWS front (:mod:`reconciler.sandbox.front`), which shows the groups as AWS
would (an instance held by a launch hook is ``Pending:Wait`` and in no
target group) and makes no registration visible that the group would not
have made; ``down`` talks to moto itself (its internal port).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import reconciler
from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import moto, processes
from reconciler.sandbox.fleet import aws, converge, followed, haproxy, instance, keys, netns, view
from reconciler.sandbox.fleet.agent import MODULE, AgentSettings
from reconciler.sandbox.fleet.balancer import Follower
from reconciler.sandbox.fleet.layout import (
    FLEET_DATA_ROOT,
    FLEET_RUN_ROOT,
    GROUPS,
    NETNS_PREFIX,
    FleetFiles,
    InstanceEngine,
    lb_port,
)
from reconciler.sandbox.processes import Clock

OWNER = FLEET_RUN_ROOT / "owner"
Events = Callable[[str], None]


@dataclass(frozen=True)
class FleetUp:
    started: tuple[str, ...] = ()  # what this call started: instance engines, load balancer, fleet agent ...
    seeded: tuple[str, ...] = ()  # what it created in moto


def enabled() -> bool:
    return os.environ.get("RECONCILER_SANDBOX_FLEET", "").strip() not in ("0", "false", "no", "off")


def owner() -> Path | None:
    """The state dir whose fleet runs on this machine (its agent alive), if any."""
    try:
        state_dir = Path(OWNER.read_text().strip())
    except OSError:
        return None
    return state_dir if agent_pid(FleetFiles(state_dir)) is not None else None


def agent_pid(files: FleetFiles) -> int | None:
    return processes.read_pid(files.agent_pidfile, MODULE)


def _start_agent(files: FleetFiles, settings: AgentSettings) -> int:
    package_root = str(Path(reconciler.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # it talks to moto only
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    pid = processes.spawn(settings.argv(sys.executable), files.agent_log, files.agent_pidfile, env=env)
    processes.wait("the fleet agent", lambda: agent_pid(files) is not None, Clock(), 10.0, f"see {files.agent_log}")
    return pid


def up(state_dir: Path, moto_url: str, registry_port: int, clock: Clock, on_event: Events) -> FleetUp:
    """Make the fleet whole; start and seed only what is missing."""
    if not enabled():
        on_event("fleet: left out (RECONCILER_SANDBOX_FLEET=0)")
        return FleetUp()
    files = FleetFiles(state_dir)
    other = owner()
    if other is not None and other != state_dir:
        on_event(f"fleet: run by the sandbox in {other}; left as it is")
        return FleetUp()
    if not processes.is_root():
        raise ReconcilerError(
            "the sandbox fleet (network namespaces with sshd and dockerd per instance) starts only as root; "
            "run `sudo reconciler sandbox up`, or set RECONCILER_SANDBOX_FLEET=0 to leave it out"
        )
    FLEET_RUN_ROOT.mkdir(parents=True, exist_ok=True)
    OWNER.write_text(f"{state_dir}\n")
    keys.ensure_keys(files)
    started = ["ssh client configuration"] if keys.install_client_config(files) else []
    if netns.ensure_bridge():
        started.append("bridge rcfleet0")
    if instance.ensure_forwarder(files, registry_port, clock):
        started.append("registry forwarder")
    with moto.clients(moto_url) as clients:
        seeded = [s for g in GROUPS for s in aws.seed(clients, g, on_event)]
        views = [view.read(clients, g.name) for g in GROUPS]
    done = converge.engines(files, views, registry_port, clock, on_event)
    if done.failed:
        raise ReconcilerError(f"fleet: engines did not start: {'; '.join(done.failed)}")
    started += [f"instance {i}" for i in done.started]
    port = lb_port()
    balancer = haproxy.ensure(files, GROUPS[0], port, clock)
    if balancer.started:
        started.append("load balancer")
        on_event(f"load balancer: started at {balancer.address} (pid {balancer.pid}, log {balancer.log})")
    Follower(files, port, clock, delay=0.0).follow(views, on_event)  # the instances in service from the start
    pid = agent_pid(files)
    settings = AgentSettings(state_dir, moto_url, registry_port, port)
    if pid is not None and processes.cmdline(pid)[1:] != settings.argv("")[1:]:
        processes.stop(files.agent_pidfile, MODULE, clock)  # started with other settings (another moto URL)
        on_event(f"fleet agent: stopped (pid {pid}), to follow {moto_url}")
        pid = None
    if pid is None:
        pid = _start_agent(files, settings)
        started.append("fleet agent")
        on_event(f"fleet agent: started (pid {pid}, log {files.agent_log})")
    instances = [i for v in views for i in v.instances if i.has_engine]
    listed = ", ".join(f"{i.instance_id} {i.private_ip}" for i in instances) or "none"
    on_event(f"fleet: {len(instances)} instance engine(s) ({listed}); load balancer {balancer.address}")
    return FleetUp(tuple(started), tuple(seeded))


def down(state_dir: Path, moto_url: str, moto_running: bool, clock: Clock, on_event: Events) -> None:
    """Stop and remove the fleet this state dir made (nothing if another state dir runs it)."""
    files = FleetFiles(state_dir)
    other = owner()
    if other is not None and other != state_dir:
        on_event(f"fleet: run by the sandbox in {other}; left running")
        return
    recorded = OWNER.read_text().strip() if OWNER.is_file() else ""
    if recorded and recorded != str(state_dir):
        on_event(f"fleet: made by the sandbox in {recorded}; left as it is")
        return
    pid = processes.stop(files.agent_pidfile, MODULE, clock)
    if pid is not None:
        on_event(f"fleet agent: stopped (pid {pid})")
    if moto_running and recorded:
        with moto.clients(moto_url) as clients:
            gone = [g for group in GROUPS for g in aws.remove(clients, group)]
        if gone:
            on_event(f"moto: removed {', '.join(gone)}")
    names = netns.namespaces()
    for name in names:
        instance.stop(files, InstanceEngine(name.removeprefix(NETNS_PREFIX), ""), clock)
        instance.remove_namespace(name, clock)
    if names:
        on_event(f"fleet: removed {len(names)} instance engine(s)")
    pid = haproxy.stop(files, clock)
    followed.remove(followed.DECLARATIONS, followed.FLEET)
    if pid is not None:
        on_event(f"load balancer: stopped (pid {pid})")
    instance.stop_forwarder(files, clock)
    netns.remove_bridge()
    keys.remove_client_config(files)
    OWNER.unlink(missing_ok=True)
    for folder in (FLEET_RUN_ROOT, FLEET_DATA_ROOT):
        if folder.is_dir() and not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
    if recorded or names or pid is not None:
        on_event("fleet: down (no namespace, veth, bridge or process left)")
