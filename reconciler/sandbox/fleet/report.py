"""What ``reconciler sandbox status`` says of the fleet: the load balancer, the groups and their instances. Does I/O.

:func:`status` reads moto (when it answers) and the fleet's processes into
plain JSON-able data: the load balancer's URL and the servers HAProxy has
with their health, the agent, the ssh files a Docker client needs, and each
group with its size and instances (id, private IP, lifecycle state, health,
EC2 state, the Docker URL of its engine and whether that engine runs).
:func:`lines` is the text form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import moto
from reconciler.sandbox.fleet import haproxy, instance, lifecycle, view
from reconciler.sandbox.fleet.layout import GROUPS, SSH_CONFIG_DROPIN, FleetFiles, InstanceEngine, lb_url


def _balancer(files: FleetFiles) -> dict[str, Any]:
    pid = haproxy.running(files)
    found: dict[str, Any] = {"url": lb_url(), "running": pid is not None, "pid": pid, "servers": []}
    if pid is None:
        return found
    try:
        servers = haproxy.Runtime().servers(GROUPS[0].target_group)
    except ReconcilerError:
        return found
    found["servers"] = [{"instance_id": s.name, "address": s.address, "status": s.status, "admin": s.admin,
                         "sessions": s.sessions}
                        for s in servers.values()]  # fmt: skip
    return found


def _group(files: FleetFiles, got: view.GroupView) -> dict[str, Any]:
    return {
        "name": got.name,
        "exists": got.exists,
        "desired": got.desired,
        "min": got.min_size,
        "max": got.max_size,
        "target_groups": [
            {
                "name": tg.name,
                "arn": tg.arn,
                "port": tg.port,
                "health_path": tg.health_path,
                "registered": [t.instance_id for t in tg.registered if t.in_service],
            }
            for tg in got.target_groups
        ],
        "instances": [
            {
                "id": i.instance_id,
                "private_ip": i.private_ip,
                "lifecycle_state": i.lifecycle_state,
                "health_status": i.health_status,
                "ec2_state": i.ec2_state,
                "docker_url": InstanceEngine(i.instance_id, i.private_ip).docker_url if i.private_ip else None,
                "engine_running": instance.running(files, InstanceEngine(i.instance_id, i.private_ip)),
            }
            for i in got.instances
        ],
    }


def status(state_dir: Path, moto_url: str, moto_up: bool) -> dict[str, Any]:
    """The fleet as plain data (its processes are read in the state dir that runs it)."""
    owner = lifecycle.owner()
    files = FleetFiles(owner or state_dir)
    agent = lifecycle.agent_pid(files)
    groups: list[dict[str, Any]] = []
    if moto_up:
        with moto.clients(moto_url) as clients:
            groups = [_group(files, view.read(clients, g.name)) for g in GROUPS]
    return {
        "enabled": lifecycle.enabled(),
        "state_dir": str(files.state_dir) if owner or agent else None,
        "agent": {"running": agent is not None, "pid": agent, "log": str(files.agent_log)},
        "ssh": {
            "key": str(files.client_key),
            "known_hosts": str(files.known_hosts),
            "config": str(files.ssh_config),
            "system_config": str(SSH_CONFIG_DROPIN) if SSH_CONFIG_DROPIN.is_file() else None,
        },
        "load_balancer": _balancer(files),
        "groups": groups,
    }


def lines(report: dict[str, Any]) -> list[str]:
    """The text form: the load balancer, then one line per group and per instance."""
    lb = report["load_balancer"]
    servers = ", ".join(f"{s['instance_id']} {s['status']}" for s in lb["servers"]) or "no server"
    state = f"running (pid {lb['pid']}): {servers}" if lb["running"] else "not running"
    agent = report["agent"]
    found = [
        f"load balancer: {lb['url']} {state}",
        f"fleet agent: {'running (pid ' + str(agent['pid']) + ')' if agent['running'] else 'not running'}, "
        f"log {agent['log']}",
        f"fleet ssh: key {report['ssh']['key']}, config {report['ssh']['system_config'] or report['ssh']['config']}",
    ]
    for g in report["groups"]:
        if not g["exists"]:
            found.append(f"group {g['name']}: not in moto")
            continue
        registered = {i for tg in g["target_groups"] for i in tg["registered"]}
        found.append(f"group {g['name']}: desired {g['desired']} (min {g['min']}, max {g['max']}), "
                     f"{len(g['instances'])} instance(s)")  # fmt: skip
        for i in g["instances"]:
            engine = "engine running" if i["engine_running"] else "no engine"
            lb_state = "registered" if i["id"] in registered else "not registered"
            found.append(f"  {i['id']} {i['private_ip'] or '-'} {i['lifecycle_state']}/{i['health_status']} "
                         f"{i['docker_url'] or '-'} ({engine}, {lb_state})")  # fmt: skip
    return found
