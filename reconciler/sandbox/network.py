"""The host networking of the extra engines: Linux bridges, routes and iptables rules. Does I/O (ip, iptables).

Each extra engine (:class:`~reconciler.sandbox.layout.EngineDaemon`) has its
own bridge ``rcsb<i>`` at ``10.<200+i>.0.1/24`` and its own address pool
``10.<200+i>.16.0/20``: 10.x, so they never overlap the default pools of the
main engine (172.17-31.0.0/16, 192.168.0.0/16). :func:`ensure_bridge` makes
the bridge (refusing when a host route overlaps its subnet) and
:func:`remove_bridge` deletes it with its rules once no dockerd uses it. A
dockerd flushes the iptables chains every dockerd shares (DOCKER,
DOCKER-ISOLATION-*) when it starts: :func:`shared_chain_rules` reads them
before, :func:`restore_chain_rules` puts back what the other engines had, so
their published ports and isolation survive. Run as root; read-only probes
return empty results otherwise.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import shutil
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.layout import EngineDaemon

SHARED_CHAINS: tuple[tuple[str, str], ...] = (
    ("filter", "DOCKER"),
    ("filter", "DOCKER-ISOLATION-STAGE-1"),
    ("filter", "DOCKER-ISOLATION-STAGE-2"),
    ("nat", "DOCKER"),
)

ChainRules = dict[tuple[str, str], list[str]]


def shared_chain_rules() -> ChainRules:
    """The rules of the iptables chains every dockerd shares (empty if unreadable)."""
    iptables = shutil.which("iptables")
    rules: ChainRules = {}
    if iptables is None or not processes.is_root():
        return rules
    for table, chain in SHARED_CHAINS:
        got = processes.run([iptables, "-w", "-t", table, "-S", chain])
        if got.returncode == 0:
            rules[(table, chain)] = [r for r in got.stdout.splitlines() if r.startswith(f"-A {chain} ")]
    return rules


def restore_chain_rules(before: ChainRules) -> list[str]:
    """Put back the rules a starting dockerd flushed from the shared chains; returns them.

    They go in at the top, in their old order: the chains end with their
    catch-all RETURN, which the other rules must precede.
    """
    iptables = shutil.which("iptables")
    if iptables is None or not before:
        return []
    after = shared_chain_rules()
    restored: list[str] = []
    for (table, chain), rules in before.items():
        present = set(after.get((table, chain), []))
        for rule in reversed([r for r in rules if r not in present]):
            args = shlex.split(rule)[2:]
            if processes.run([iptables, "-w", "-t", table, "-I", chain, "1", *args]).returncode == 0:
                restored.append(f"{table} {rule}")
    return restored


def bridge_addresses(ip: str, bridge: str) -> list[str] | None:
    """The IPv4 addresses (cidr) of the link, or None when it does not exist."""
    got = processes.run([ip, "-j", "addr", "show", "dev", bridge])
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
    mine = ipaddress.IPv4Network(engine.subnet)
    pool = ipaddress.IPv4Network(engine.address_pool)
    got = processes.run([ip, "-j", "-4", "route", "show"])
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
    ip = processes.tool("ip", "iproute2")
    addresses = bridge_addresses(ip, engine.bridge)
    created = False
    if addresses is None:
        conflicts = _route_conflicts(ip, engine)
        if conflicts:
            raise ReconcilerError(
                f"sandbox engine {engine.name} needs {engine.subnet}, but the host routes "
                f"{', '.join(conflicts)} overlap it; remove them or lower RECONCILER_SANDBOX_ENGINES"
            )
        got = processes.run([ip, "link", "add", engine.bridge, "type", "bridge"])
        if got.returncode != 0:
            raise ReconcilerError(f"could not create the bridge {engine.bridge}: {got.stderr.strip()}")
        created, addresses = True, []
    if engine.bridge_address not in addresses:
        got = processes.run([ip, "addr", "add", engine.bridge_address, "dev", engine.bridge])
        if got.returncode != 0:
            raise ReconcilerError(
                f"could not give {engine.bridge} the address {engine.bridge_address}: {got.stderr.strip()}"
            )
    got = processes.run([ip, "link", "set", engine.bridge, "up"])
    if got.returncode != 0:
        raise ReconcilerError(f"could not bring {engine.bridge} up: {got.stderr.strip()}")
    return created


def recreate_bridge(ip: str, bridge: str, addresses: list[str]) -> None:
    """Put back a bridge that disappeared, with its addresses (best effort)."""
    processes.run([ip, "link", "add", bridge, "type", "bridge"])
    for address in addresses:
        processes.run([ip, "addr", "add", address, "dev", bridge])
    processes.run([ip, "link", "set", bridge, "up"])


def _dockerd_uses_bridge(bridge: str) -> list[int]:
    """Pids of running dockerd processes started with --bridge <bridge>."""
    users = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        cmd = processes.cmdline(int(proc.name))
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
        got = processes.run([iptables, "-w", "-t", table, "-S"])
        for rule in got.stdout.splitlines() if got.returncode == 0 else []:
            words = shlex.split(rule)
            if words[:1] == ["-A"] and bridge in words:
                processes.run([iptables, "-w", "-t", table, "-D", *words[1:]])


def remove_bridge(engine: EngineDaemon) -> bool:
    """Delete the engine's bridge and its iptables rules if no dockerd uses it; True if deleted."""
    ip = shutil.which("ip")
    if ip is None or bridge_addresses(ip, engine.bridge) is None or _dockerd_uses_bridge(engine.bridge):
        return False
    _drop_bridge_rules(engine.bridge)
    return processes.run([ip, "link", "del", engine.bridge]).returncode == 0
