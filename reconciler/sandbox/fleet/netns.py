"""The fleet's network: the bridge ``rcfleet0`` and one network namespace per instance. Does I/O (``ip``).

:func:`ensure_bridge` gives the host the subnet's router address
(``10.90.1.1/24`` on ``rcfleet0``), refusing when a host route already
overlaps the subnet. :func:`add_namespace` makes an instance's namespace
``rcfleet-<instance id>``: loopback up, a veth pair whose host end
(``rcfv<hash>``) joins the bridge and whose other end is the namespace's
``eth0`` carrying the private IP, and a default route through the bridge.
:func:`delete_namespace` removes both (deleting a namespace deletes its end
of the pair, and with it the host's end). Nothing here touches iptables: the
host reaches the instances through its own bridge address, and each
namespace's dockerd writes its rules in the namespace's own tables, which
vanish with it. Run as root.
"""

from __future__ import annotations

import ipaddress
import json

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.fleet.layout import BRIDGE, BRIDGE_ADDRESS, GATEWAY, NETNS_PREFIX, SUBNET_CIDR, InstanceEngine
from reconciler.sandbox.network import bridge_addresses


def _ip() -> str:
    return processes.tool("ip", "iproute2")


def _must(argv: list[str], what: str) -> None:
    got = processes.run(argv)
    if got.returncode != 0:
        raise ReconcilerError(f"{what}: {got.stderr.strip() or got.stdout.strip()} ({' '.join(argv[1:])})")


def _overlapping_routes(ip: str) -> list[str]:
    subnet = ipaddress.IPv4Network(SUBNET_CIDR)
    got = processes.run([ip, "-j", "-4", "route", "show"])
    try:
        routes = json.loads(got.stdout or "[]") if got.returncode == 0 else []
    except ValueError:
        return []
    found = []
    for r in routes:
        dst, dev = r.get("dst", ""), r.get("dev", "")
        if dst == "default" or dev == BRIDGE:
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network) and net.overlaps(subnet):
            found.append(f"{dst} dev {dev}")
    return found


def ensure_bridge() -> bool:
    """``rcfleet0`` exists with the subnet's router address and is up; True if this call made it."""
    ip = _ip()
    addresses = bridge_addresses(ip, BRIDGE)
    created = False
    if addresses is None:
        conflicts = _overlapping_routes(ip)
        if conflicts:
            raise ReconcilerError(
                f"the sandbox fleet needs {SUBNET_CIDR}, but the host routes {', '.join(conflicts)} overlap it"
            )
        _must([ip, "link", "add", BRIDGE, "type", "bridge"], f"could not create the bridge {BRIDGE}")
        created, addresses = True, []
    if BRIDGE_ADDRESS not in addresses:
        _must([ip, "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE], f"could not address {BRIDGE}")
    _must([ip, "link", "set", BRIDGE, "up"], f"could not bring {BRIDGE} up")
    return created


def remove_bridge() -> bool:
    """Delete ``rcfleet0``; True if it existed."""
    ip = _ip()
    if bridge_addresses(ip, BRIDGE) is None:
        return False
    return processes.run([ip, "link", "del", BRIDGE]).returncode == 0


def namespaces() -> list[str]:
    """The fleet's network namespaces on this machine (``rcfleet-<instance id>``)."""
    got = processes.run([_ip(), "-j", "netns", "list"])
    try:
        listed = json.loads(got.stdout or "[]") if got.returncode == 0 else []
    except ValueError:
        listed = []
    return sorted(n["name"] for n in listed if str(n.get("name", "")).startswith(NETNS_PREFIX))


def add_namespace(engine: InstanceEngine) -> None:
    """The instance's namespace with its address on the bridge (replacing a half-made one)."""
    ip = _ip()
    delete_namespace(engine)
    ns = engine.netns
    _must([ip, "netns", "add", ns], f"could not create the network namespace {ns}")
    try:
        _must([ip, "link", "add", engine.veth, "type", "veth", "peer", "name", engine.veth_peer],
              f"could not create the veth pair of {engine.instance_id}")  # fmt: skip
        _must([ip, "link", "set", engine.veth_peer, "netns", ns], f"could not move the veth into {ns}")
        _must([ip, "link", "set", engine.veth, "master", BRIDGE], f"could not attach {engine.veth} to {BRIDGE}")
        _must([ip, "link", "set", engine.veth, "up"], f"could not bring {engine.veth} up")
        inside = [ip, "-n", ns]
        _must([*inside, "link", "set", "lo", "up"], f"could not bring lo up in {ns}")
        _must([*inside, "link", "set", engine.veth_peer, "name", "eth0"], f"could not name eth0 in {ns}")
        prefix = ipaddress.IPv4Network(SUBNET_CIDR).prefixlen
        _must([*inside, "addr", "add", f"{engine.private_ip}/{prefix}", "dev", "eth0"],
              f"could not give {ns} the address {engine.private_ip}")  # fmt: skip
        _must([*inside, "link", "set", "eth0", "up"], f"could not bring eth0 up in {ns}")
        _must([*inside, "route", "add", "default", "via", GATEWAY], f"could not route {ns} through {GATEWAY}")
    except ReconcilerError:
        delete_namespace(engine)
        raise


def delete_namespace(engine: InstanceEngine) -> bool:
    """Delete the namespace (and so its veth pair); True if it existed."""
    ip = _ip()
    existed = processes.run([ip, "netns", "delete", engine.netns]).returncode == 0
    processes.run([ip, "link", "del", engine.veth])  # gone with the namespace, unless half-made
    return existed


def delete_namespace_named(name: str) -> bool:
    """Delete a fleet namespace by name (one whose instance moto no longer knows)."""
    return processes.run([_ip(), "netns", "delete", name]).returncode == 0
