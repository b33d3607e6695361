"""Where the fleet lives: its subnet, names, ports and paths, and each instance engine's. Pure, no I/O.

One fleet per machine, like the extra engines: the VPC ``10.90.0.0/16`` with
the subnet ``10.90.1.0/24`` whose ``.1`` (the VPC router's address in AWS) is
the host side of the bridge ``rcfleet0``; moto gives instances ``.4`` and up.
Nothing else on the machine uses 10.90 (the extra engines have 10.201-249,
Docker's default pools 172.17-31 and 192.168). Inside each instance's network
namespace its dockerd has the bridge ``10.91.0.1/24`` and the pool
``10.91.16.0/20``: every namespace has its own routing table, so all of them
may use the same ones. Paths that hold unix sockets stay short (108 bytes).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.layout import ENGINE_DATA_ROOT, ENGINE_RUN_ROOT, HOST

VPC_CIDR = "10.90.0.0/16"
SUBNET_CIDR = "10.90.1.0/24"
SUBNET_HOSTS = "10.90.1.*"  # the ssh client configuration's Host pattern, and known_hosts'
BRIDGE = "rcfleet0"
BRIDGE_ADDRESS = "10.90.1.1/24"
GATEWAY = "10.90.1.1"
INSTANCE_BRIDGE = "10.91.0.1/24"  # docker0 inside each namespace
INSTANCE_POOL = "10.91.16.0/20"
NETNS_PREFIX = "rcfleet-"  # ip netns names: rcfleet-i-0123456789abcdef0
VETH_PREFIX = "rcfv"  # host side of an instance's veth pair (15 characters at most)
FLEET_RUN_ROOT = ENGINE_RUN_ROOT / "fleet"  # sockets, exec roots
FLEET_DATA_ROOT = ENGINE_DATA_ROOT / "fleet"  # each instance's data root (its disk: removed with it)
REGISTRY_SOCKET = FLEET_RUN_ROOT / "registry.sock"  # the host end of the namespaces' registry forwarders
SSH_CONFIG_DROPIN = Path("/etc/ssh/ssh_config.d/reconciler-sandbox.conf")  # read by every ssh client
SSH_USER = "root"
DEFAULT_LB_PORT = 8080
POLL_INTERVAL = 0.5  # seconds between the agent's looks at moto
PROPAGATION_DELAY = 1.0  # a registration change reaches the load balancer this long after moto has it
# The target group's health check and deregistration delay, as short as AWS allows (its defaults:
# every 30 s, 5 healthy / 2 unhealthy, a 300 s delay). The load balancer follows the target group's
# thresholds, path and delay, and checks TIME_SCALE times its interval: every second for its 5 s.
HEALTH_INTERVAL = 5  # seconds between two checks of a target (AWS's minimum)
HEALTH_TIMEOUT = 2  # seconds a check may take (AWS's minimum)
HEALTHY_THRESHOLD = 2  # good checks in a row before a target gets requests (AWS's minimum)
UNHEALTHY_THRESHOLD = 2  # failed checks in a row before it gets none
DEREGISTRATION_DELAY = 5  # seconds a deregistered target may drain before its connections are cut
TIME_SCALE = 0.2  # the load balancer's check interval and timeout, as a fraction of the target group's


@dataclass(frozen=True)
class FleetGroup:
    """What terraform would have made for one Auto Scaling group behind a load balancer."""

    name: str  # popcon-prod-asg
    prefix: str  # popcon-prod: names the VPC, subnet, template, target group, load balancer, alarms
    desired: int
    min_size: int
    max_size: int
    port: int  # the frontend's port: the target group's
    health_path: str

    @property
    def template(self) -> str:
        return f"{self.prefix}-lt"

    @property
    def target_group(self) -> str:
        return f"{self.prefix}-frontend"

    @property
    def load_balancer(self) -> str:
        return f"{self.prefix}-alb"

    @property
    def alarms(self) -> tuple[str, ...]:
        return (f"{self.prefix}-5xx", f"{self.prefix}-unhealthy-hosts")


GROUP = FleetGroup("popcon-prod-asg", "popcon-prod", desired=2, min_size=1, max_size=4, port=3000,
                   health_path="/health")  # fmt: skip
GROUPS: tuple[FleetGroup, ...] = (GROUP,)


def lb_port() -> int:
    """The load balancer's loopback port: RECONCILER_SANDBOX_LB_PORT, else 8080."""
    raw = os.environ.get("RECONCILER_SANDBOX_LB_PORT", "").strip()
    if not raw:
        return DEFAULT_LB_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ReconcilerError(f"RECONCILER_SANDBOX_LB_PORT={raw!r} is not a TCP port")
    return int(raw)


def lb_url() -> str:
    return f"http://{HOST}:{lb_port()}"


def docker_url(private_ip: str) -> str:
    """How the reconciler (and any Docker client) reaches an instance's engine."""
    return f"ssh://{SSH_USER}@{private_ip}"


@dataclass(frozen=True)
class FleetFiles:
    """The fleet's files in a sandbox state dir."""

    state_dir: Path

    @property
    def root(self) -> Path:
        return self.state_dir / "fleet"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"  # 0600; .pub beside it

    @property
    def host_key(self) -> Path:
        return self.ssh_dir / "ssh_host_ed25519_key"  # one host key for every instance

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"  # `ssh -F` form of the drop-in

    def instance_dir(self, instance_id: str) -> Path:
        return self.root / instance_id  # pidfiles and logs of its sshd, dockerd, forwarder

    @property
    def forwarder_pidfile(self) -> Path:
        return self.root / "registry-forward.pid"

    @property
    def agent_pidfile(self) -> Path:
        return self.state_dir / "fleet-agent.pid"

    @property
    def agent_log(self) -> Path:
        return self.state_dir / "fleet-agent.log"

    @property
    def converge_lock(self) -> Path:
        return self.root / ".converge.lock"


@dataclass(frozen=True)
class InstanceEngine:
    """Where one instance's engine lives, derived from its id and private IP."""

    instance_id: str
    private_ip: str

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.instance_id}"

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"

    @property
    def veth(self) -> str:
        return VETH_PREFIX + hashlib.sha256(self.instance_id.encode()).hexdigest()[:11]

    @property
    def veth_peer(self) -> str:
        return "rcfp" + self.veth.removeprefix(VETH_PREFIX)  # renamed eth0 inside the namespace

    @property
    def docker_url(self) -> str:
        return docker_url(self.private_ip)

    @property
    def run_dir(self) -> Path:
        return FLEET_RUN_ROOT / self.instance_id

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def data_root(self) -> Path:
        return FLEET_DATA_ROOT / self.instance_id

    def in_netns(self, argv: list[str]) -> list[str]:
        """argv run in the namespace's network only (the mount namespace stays the host's)."""
        return ["nsenter", f"--net={self.netns_path}", "--", *argv]

    def dockerd_argv(self, dockerd: str) -> list[str]:
        return self.in_netns([
            dockerd,
            "--config-file", str(self.run_dir / "daemon.json"),
            "--host", f"unix://{self.socket}",
            "--data-root", str(self.data_root),
            "--exec-root", str(self.run_dir / "exec"),
            "--pidfile", str(self.run_dir / "dockerd.pid"),
            "--bip", INSTANCE_BRIDGE,
            "--default-address-pool", f"base={INSTANCE_POOL},size=24",
            "--containerd-namespace", f"rcfleet-{self.instance_id}",
            "--containerd-plugins-namespace", f"rcfleet-{self.instance_id}-plugins",
        ])  # fmt: skip

    def daemon_json(self) -> dict[str, str]:
        return {"deprecated-key-path": str(self.data_root / "key.json")}  # its own engine ID

    def sshd_config(self, files: FleetFiles) -> str:
        """sshd inside the namespace: this address only, the sandbox's key only, the engine's DOCKER_HOST."""
        return "\n".join([
            "# Written by the reconciler sandbox: the sshd of one fleet instance.",
            f"ListenAddress {self.private_ip}:22",
            f"HostKey {files.host_key}",
            f"AuthorizedKeysFile {files.authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the state dir may sit under /tmp; the key files are 0600 anyway
            "PidFile none",
            "PrintMotd no",
            "MaxStartups 200",  # Compose and the SDK open many sessions at once
            "MaxSessions 200",
            f"SetEnv DOCKER_HOST=unix://{self.socket}",  # `docker system dial-stdio` reaches this engine
            "LogLevel ERROR",
            "",
        ])  # fmt: skip

    def forwarder_argv(self, socat: str, registry_port: int) -> list[str]:
        """127.0.0.1:<registry port> inside the namespace -> the host's registry (its images keep their names)."""
        return self.in_netns([socat, f"TCP-LISTEN:{registry_port},bind=127.0.0.1,fork,reuseaddr",
                              f"UNIX-CONNECT:{REGISTRY_SOCKET}"])  # fmt: skip
