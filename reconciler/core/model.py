"""Plain data for the reconcile core: the desired state, and the keys and values both sides share. Pure.

Everything here is a frozen dataclass built from the spec files (the observed
side is :mod:`reconciler.core.observed`). The planner is a pure function of the
two; nothing in this module does I/O.

Secret values are carried as :class:`Sensitive`, whose ``str``/``repr`` never
show the value; only :meth:`Sensitive.reveal` does, and only drivers and the
config-hash computation call it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconciler.core.fleet import FleetSpec, RolloutSpec

if TYPE_CHECKING:
    from reconciler.core.secretsmanager import SecretRef

# Tag keys on SSM parameters and label keys on containers; both say who owns
# the resource. The world is the state: nothing else records ownership.
OWNER_KEY = "reconciler.dev/owner"
ENVIRONMENT_KEY = "reconciler.dev/environment"
STACK_KEY = "reconciler.dev/stack"
CONFIG_HASH_KEY = "reconciler.dev/config-hash"
JOB_KEY = "reconciler.dev/job"  # on a job's one-off container (docker compose run): the job's name

# Compose v2's own labels, read by the Docker observer.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NETWORK = "com.docker.compose.network"
COMPOSE_VOLUME = "com.docker.compose.volume"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
COMPOSE_CONTAINER_NUMBER = "com.docker.compose.container-number"

# What Compose's process gets from the reconciler's besides a stack's values (its connection
# settings): a compose file may interpolate these, and Compose sets COMPOSE_PROJECT_NAME itself.
COMPOSE_PROCESS_ENV = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CONTEXT",
)
COMPOSE_SET_BY_COMPOSE = ("COMPOSE_PROJECT_NAME",)

# The name of an environment's only Docker host when its spec names none.
DEFAULT_HOST = "default"

MASK = "(sensitive)"


def is_oneoff(labels: Mapping[str, str]) -> bool:
    """A ``docker compose run`` container (by its labels): not a service's container."""
    return labels.get(COMPOSE_ONEOFF, "False") == "True"


def made_by_compose(labels: Mapping[str, str]) -> bool:
    """Compose itself made this container: it always sets the oneoff and container-number labels.
    A container that only carries a project's and service's labels is a look-alike."""
    return COMPOSE_ONEOFF in labels and COMPOSE_CONTAINER_NUMBER in labels


def leftover_of_recreate(name: str, project: str, service: str) -> bool:
    """Compose renames the old container to ``<12 hex>_<project>-<service>-<n>`` while it
    recreates; a container still named so was left by an interrupted recreate."""
    return re.fullmatch(rf"[0-9a-f]{{12}}_{re.escape(project)}[-_]{re.escape(service)}[-_][0-9]+", name) is not None


def path_is_under(path: str, prefix: str) -> bool:
    """SSM hierarchy containment: ``/a/b`` is under ``/a``, ``/a`` and ``/``; ``/ab`` is not under ``/a``."""
    return prefix in ("", "/") or path == prefix or path.startswith(prefix.rstrip("/") + "/")

ParamType = Literal["String", "StringList", "SecureString"]


class Sensitive:
    """A secret string. Never printed: str() and repr() show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short digest to compare values without showing them."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Sensitive", self._value))

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__


Value = str | Sensitive


def reveal(value: Value) -> str:
    return value.reveal() if isinstance(value, Sensitive) else value


# --------------------------------------------------------------------------
# Desired state (from environments/<env>/*.yaml)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSpec:
    """One SSM parameter as the spec wants it.

    ``managed`` is False for an *external* SecureString: it must already exist,
    is read (decrypted) to feed containers, and is never written or deleted.
    For an external parameter ``value`` is None. A parameter with ``secret`` is not in SSM at
    all: its value comes from Secrets Manager (read only, never written), ``managed`` is False.
    """

    name: str  # full SSM name, e.g. /popcon/dev/DB_HOST
    key: str  # the name under the set's path, e.g. DB_HOST (the env variable name)
    type: ParamType
    value: Value | None
    set_name: str
    managed: bool = True
    source: str = ""  # file:line of the declaration, for messages
    secret: SecretRef | None = None  # fromSecretsManager: the secret it is read from


@dataclass(frozen=True)
class ParameterPath:
    """A path read with GetParametersByPath (recursive) for one ParameterSet."""

    path: str
    set_name: str
    prune: bool
    decrypt: bool  # True when the set holds a SecureString


@dataclass(frozen=True)
class ImageSpec:
    """An image as the spec names it: repository plus tag or digest.

    ``registry`` is the host part (``127.0.0.1:5000`` or
    ``123456789012.dkr.ecr.ap-northeast-2.amazonaws.com``); ``repository`` the
    path inside it (``popcon/backend``).
    """

    name: str  # the Images entry name, e.g. backend
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None  # pinned in the spec (sha256:...)

    @property
    def key(self) -> str:
        """Lookup key in ObservedState.image_digests: registry/repository:tag (or @digest)."""
        ref = f"{self.registry}/{self.repository}"
        return f"{ref}@{self.digest}" if self.digest else f"{ref}:{self.tag}"

    def pinned(self, digest: str) -> str:
        """The reference containers run: registry/repository@digest."""
        return f"{self.registry}/{self.repository}@{digest}"


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"]


@dataclass(frozen=True)
class ServiceSpec:
    """One Compose service as the planner needs it.

    ``definition`` is the service mapping from the compose file, verbatim
    (before interpolation), as canonical JSON text. ``variables`` are the
    names it interpolates (``${DB_HOST}``); ``environment_from`` the
    ParameterSets whose keys are injected as container environment;
    ``host_paths`` the relative host paths it names (bind-mount sources,
    env files, build context, extends file), which resolve against the
    stack's project directory.
    """

    name: str
    definition: str  # canonical JSON (sorted keys, compact) of the raw compose service
    image: ImageSpec | None  # None: the compose file's own image string is used as is
    variables: tuple[str, ...] = ()
    environment_from: tuple[str, ...] = ()  # ParameterSet names
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: bool = False
    host_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    """A one-off job of a stack (``spec.jobs``): ``command`` run with ``service``'s image and
    configuration (``docker compose run --rm --no-deps``) before the services in ``before`` are
    created or recreated, at most ``timeout`` seconds."""

    name: str
    service: str
    command: tuple[str, ...]
    before: tuple[str, ...]
    timeout: float
    source: str = ""  # file:line of the declaration, for messages


@dataclass(frozen=True)
class HostSpec:
    """One Docker host of an environment: where its engine answers.

    ``docker_host`` is ``unix://``, ``tcp://`` or ``ssh://`` (None: DOCKER_HOST,
    else the local socket); ``tls_cert_path`` a folder with ca.pem, cert.pem and
    key.pem for ``tcp://`` with TLS (Docker's own convention). ``variables``
    are plain Compose interpolation variables for the stacks on this host
    (e.g. a published port that differs per host).
    """

    name: str
    docker_host: str | None
    tls_cert_path: Path | None = None
    tls_verify: bool = True
    variables: Mapping[str, str] = field(default_factory=dict)
    fleet: FleetSpec | None = None  # set: a fleet, standing for its group's instances until observed
    member_of: str | None = None  # an instance of the fleet of this name (set when a fleet is expanded)


@dataclass(frozen=True)
class StackSpec:
    name: str
    project: str  # compose project name
    compose_file: Path  # absolute path of the user's docker-compose.yml
    project_dir: Path  # absolute: where the compose file's relative paths resolve (Compose's --project-directory)
    services: tuple[ServiceSpec, ...]
    parameter_sets: tuple[str, ...] = ()  # sets feeding the stack's .env (interpolation)
    networks: tuple[str, ...] = ()  # compose network keys (incl. "default" when used)
    volumes: tuple[str, ...] = ()  # compose named-volume keys (not external)
    prune_services: bool = True  # remove owned containers of services no longer in the file
    hosts: tuple[str, ...] = (DEFAULT_HOST,)  # where it runs, in rollout order
    project_folder: str = "."  # project_dir relative to the environment folder ("." = that folder)
    # every file Compose reads for it: the compose file, the files it includes and extends, env files
    files: tuple[Path, ...] = ()
    jobs: tuple[JobSpec, ...] = ()  # one-off jobs, by name


DEFAULT_STATE_TABLE = "reconciler-state"


@dataclass(frozen=True)
class StateStoreSpec:
    """Where the loop's lease, status and history live (Environment spec.stateStore)."""

    type: Literal["sqlite", "dynamodb"] = "sqlite"
    table: str = DEFAULT_STATE_TABLE


@dataclass(frozen=True)
class DesiredState:
    environment: str  # Environment metadata.name, e.g. dev
    owner: str  # ownership value written to tags/labels
    parameters: tuple[ParameterSpec, ...] = ()
    parameter_paths: tuple[ParameterPath, ...] = ()
    images: tuple[ImageSpec, ...] = ()
    stacks: tuple[StackSpec, ...] = ()
    hosts: tuple[HostSpec, ...] = (HostSpec(DEFAULT_HOST, None),)
    rollout: RolloutSpec = field(default_factory=RolloutSpec)

    @property
    def fleets(self) -> tuple[HostSpec, ...]:
        """The hosts entries that are fleets (not yet expanded into their instances)."""
        return tuple(h for h in self.hosts if h.fleet is not None)

    def host(self, name: str) -> HostSpec | None:
        return next((h for h in self.hosts if h.name == name), None)

    def parameter(self, name: str) -> ParameterSpec | None:
        for p in self.parameters:
            if p.name == name:
                return p
        return None

    def set_parameters(self, set_name: str) -> tuple[ParameterSpec, ...]:
        return tuple(p for p in self.parameters if p.set_name == set_name)

    @property
    def secret_refs(self) -> tuple[SecretRef, ...]:
        """The Secrets Manager references of the parameters, in name order."""
        return tuple(p.secret for p in self.parameters if p.secret is not None)


@dataclass(frozen=True)
class ServiceTarget:
    """What one service should run: the pinned image and the config hash label.

    Computed by reconciler.planner.service_targets (pure) and used both by the
    planner (compare with the container's hash label) and by the executor
    (write the compose override with these labels and images).
    """

    image: str  # pinned reference registry/repository@sha256:... (or the compose file's own string)
    config_hash: str
    secret_versions: str | None = None  # label value: {secret id: version id} of the secrets it reads
