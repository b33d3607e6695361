"""Where the sandbox's services live, and the overrides that point an environment at them. Pure, no I/O.

Everything here is computed from constants and a few environment variables
(RECONCILER_SANDBOX_MOTO_PORT, RECONCILER_SANDBOX_MOTO_INTERNAL_PORT, RECONCILER_SANDBOX_REGISTRY_PORT,
RECONCILER_SANDBOX_HUB_PORT, RECONCILER_SANDBOX_ENGINES, RECONCILER_SANDBOX_DIR, DOCKER_HOST), so the
command line can ask for the sandbox's addresses cheaply (standard library
only): :func:`endpoints` (the AWS endpoint -- a front with moto behind it on an
internal port --, the registry, the hub -- the registry behind a
Docker Hub-like token service -- and the engines in order),
:class:`EngineDaemon` (the fixed, machine-wide paths, bridge and address pool
of each extra engine) and :func:`overrides`, the ordinary world overrides any
user could give (an AWS endpoint, Docker engines, a registry) that
``--sandbox`` stands for. A new simulated service gets its port or paths here
and its process in a module of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.errors import ReconcilerError

if TYPE_CHECKING:
    from reconciler.app.settings import Overrides

HOST = "127.0.0.1"  # every sandbox service listens on loopback only
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_MOTO_PORT = 4566  # the AWS endpoint every client uses: the front (reconciler.sandbox.front)
DEFAULT_REGISTRY_PORT = 5000
DEFAULT_HUB_PORT = 5001  # the registry behind a token service, as Docker Hub serves it
#: the hub's private repositories (pulls need the credentials below); every other one is public
HUB_PRIVATE = ("popcon/backend", "private/")
#: the hub's one account: a sandbox-only credential (like moto's), never a real one
HUB_USERNAME = "sandbox-user"
HUB_PASSWORD = "dckr_pat_sandbox-only"
HUB_SERVICE = "sandbox-hub"  # the token service's name (Docker Hub's: registry.docker.io)
DEFAULT_ENGINES = 3  # host-0 (the main engine), host-1, host-2
MAX_ENGINES = 50  # host-1 .. host-49: 10.201 .. 10.249
REGION = "ap-northeast-2"
CREDENTIALS = ("testing", "testing")  # moto accepts any; access key id, secret key
ENGINE_RUN_ROOT = Path("/run/reconciler-sandbox")  # sockets, exec roots, pidfiles (short: unix paths <= 107)
ENGINE_DATA_ROOT = Path("/var/lib/reconciler-sandbox")  # images, containers, volumes (kept by down)
#: where the engines of ``--sandbox`` come from, named when an environment has more hosts than engines
ENGINES_FROM = "--sandbox; set RECONCILER_SANDBOX_ENGINES and run `reconciler sandbox up`"


@dataclass(frozen=True)
class Engine:
    """One Docker engine of the sandbox (a simulated host)."""

    name: str  # host-0, host-1, ...
    docker_host: str  # unix:///var/run/docker.sock, unix:///run/reconciler-sandbox/host-1/docker.sock


@dataclass(frozen=True)
class Endpoints:
    """Where the sandbox's services answer (computed, no I/O)."""

    moto_port: int
    registry_port: int
    engines: tuple[Engine, ...]  # host-0 (the main engine) first
    region: str = REGION
    hub_port: int = DEFAULT_HUB_PORT
    moto_internal_port: int = 0  # moto itself, behind the front (0: the AWS port + 1)

    @property
    def hub(self) -> str:
        """The registry as Docker Hub serves it: token auth, plain http on loopback."""
        return f"{HOST}:{self.hub_port}"

    @property
    def hub_realm(self) -> str:
        return f"http://{HOST}:{self.hub_port}/token"

    @property
    def moto_url(self) -> str:
        """The AWS endpoint: the front, which forwards to moto (target health from the load balancer)."""
        return f"http://{HOST}:{self.moto_port}"

    @property
    def moto_server_port(self) -> int:
        return self.moto_internal_port or self.moto_port + 1

    @property
    def moto_server_url(self) -> str:
        """moto itself (the fleet's agent reads it: registrations as moto has them)."""
        return f"http://{HOST}:{self.moto_server_port}"

    @property
    def registry(self) -> str:
        return f"{HOST}:{self.registry_port}"  # plain http

    @property
    def docker_host(self) -> str:
        return self.engines[0].docker_host


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
          through the API before it is (see :func:`reconciler.sandbox.engines.stop_engine`),
          so none outlives it.
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


def docker_host() -> str:
    """The main engine (host-0): $DOCKER_HOST, else the local socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _port(var: str, default: int) -> int:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ReconcilerError(f"{var}={raw!r} is not a TCP port")
    return int(raw)


def _engine_count() -> int:
    var = "RECONCILER_SANDBOX_ENGINES"
    raw = os.environ.get(var, "").strip()
    if not raw:
        return DEFAULT_ENGINES
    if not raw.isdigit() or not 1 <= int(raw) < MAX_ENGINES:
        raise ReconcilerError(f"{var}={raw!r} is not a number of engines (1 to {MAX_ENGINES - 1})")
    return int(raw)


def extra_engines() -> tuple[EngineDaemon, ...]:
    """The daemons behind host-1, host-2, ... (RECONCILER_SANDBOX_ENGINES - 1 of them)."""
    return tuple(EngineDaemon(i) for i in range(1, _engine_count()))


def endpoints(moto_port: int | None = None, registry_port: int | None = None, hub_port: int | None = None,
              moto_internal_port: int | None = None) -> Endpoints:  # fmt: skip
    """The sandbox addresses: explicit ports, else the environment, else 4566 (moto behind it on
    4567, the AWS port + 1)/5000/5001. An explicit AWS port puts moto on the next one unless its
    internal port is given too."""
    moto = moto_port or _port("RECONCILER_SANDBOX_MOTO_PORT", DEFAULT_MOTO_PORT)
    internal = moto_internal_port or moto + 1
    if not moto_internal_port and not moto_port:
        internal = _port("RECONCILER_SANDBOX_MOTO_INTERNAL_PORT", moto + 1)
    if internal == moto:
        raise ReconcilerError(f"moto's internal port {internal} is the AWS endpoint's own; "
                              "set RECONCILER_SANDBOX_MOTO_INTERNAL_PORT to another port")  # fmt: skip
    registry = registry_port or _port("RECONCILER_SANDBOX_REGISTRY_PORT", DEFAULT_REGISTRY_PORT)
    hub = hub_port or _port("RECONCILER_SANDBOX_HUB_PORT", DEFAULT_HUB_PORT)
    engines = (Engine("host-0", docker_host()), *(Engine(e.name, e.docker_host) for e in extra_engines()))
    return Endpoints(moto, registry, engines, hub_port=hub, moto_internal_port=internal)


def default_state_dir(root: Path | None = None) -> Path:
    """$RECONCILER_SANDBOX_DIR, else <root or cwd>/.sandbox."""
    env = os.environ.get("RECONCILER_SANDBOX_DIR")
    if env:
        return Path(env).absolute()
    return (root or Path.cwd()).absolute() / ".sandbox"


FLEET_DOCKER = "ssh://root@{privateIp}"  # how --sandbox reaches a fleet's instances


def overrides(*, state_dir: Path | None = None) -> Overrides:
    """What ``--sandbox`` stands for: AWS at moto, the engines in order, every image from the
    sandbox's registry (plain http), a fleet's instances over ssh as root (the sandbox's sshd
    accepts its own key for root only). Ordinary overrides, as a user could give them by hand."""
    from reconciler.app.settings import Overrides  # the application, only when an environment is opened

    where = endpoints()
    return Overrides(
        aws_endpoint_url=where.moto_url,
        docker_engines=tuple(e.docker_host for e in where.engines),
        engines_from=ENGINES_FROM,
        registry=f"http://{where.registry}",
        state_dir=state_dir,
        fleet_docker=FLEET_DOCKER,
    )
