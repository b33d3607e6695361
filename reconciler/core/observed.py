"""Plain data for the reconcile core: the observed state, as the observers read it from AWS and Docker. Pure.

One frozen dataclass per thing observed (``Observed<Thing>``), the desired side
being :mod:`reconciler.core.model`. The planner compares the two; a host that
could not be read carries its ``error`` instead of its contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from reconciler.core.fleet_observed import ObservedFleet
from reconciler.core.jobs import JobKey
from reconciler.core.model import CONFIG_HASH_KEY, OWNER_KEY, ParamType, Value
from reconciler.core.secretsmanager import ObservedSecret

__all__ = [
    "Health",
    "ObservedContainer",
    "ObservedHost",
    "ObservedNetwork",
    "ObservedParameter",
    "ObservedState",
    "ObservedVolume",
]


@dataclass(frozen=True)
class ObservedParameter:
    name: str
    type: ParamType
    value: Value  # Sensitive for SecureString (decrypted) or a masked placeholder if not decrypted
    version: int = 1
    tags: Mapping[str, str] | None = None  # None: not fetched (only fetched where a decision needs it)


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str
    project: str
    service: str
    state: str  # created | running | restarting | exited | paused | dead
    health: str | None  # healthy | unhealthy | starting | None (no healthcheck)
    labels: Mapping[str, str] = field(default_factory=dict)
    image: str = ""  # the image reference the container was created from

    @property
    def config_hash(self) -> str | None:
        return self.labels.get(CONFIG_HASH_KEY)

    @property
    def owner(self) -> str | None:
        return self.labels.get(OWNER_KEY)


@dataclass(frozen=True)
class ObservedNetwork:
    name: str  # docker name, e.g. dev-popcon_default
    project: str
    key: str  # compose key, e.g. default
    id: str = ""
    created: str = ""  # as the engine reports it (ISO 8601), to keep the oldest of duplicates


@dataclass(frozen=True)
class ObservedVolume:
    name: str
    project: str
    key: str


@dataclass(frozen=True)
class ObservedHost:
    """One Docker host as observed: its compose containers, networks, volumes
    and which pinned images it holds. ``error`` says why it could not be read
    (then everything else is empty and nothing is planned on it)."""

    name: str
    # pinned references (registry/repository@sha256:...) present in this engine
    local_images: frozenset[str] = frozenset()
    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ObservedState:
    parameters: Mapping[str, ObservedParameter] = field(default_factory=dict)
    # ImageSpec.key -> digest the registry serves now; a missing key = not found
    image_digests: Mapping[str, str] = field(default_factory=dict)
    hosts: Mapping[str, ObservedHost] = field(default_factory=dict)  # host name -> what it runs
    fleets: Mapping[str, ObservedFleet] = field(default_factory=dict)  # fleet name -> its group as observed
    # SecretRef.read_key (secret id @ version stage) -> the version read; a missing key = not found
    secrets: Mapping[str, ObservedSecret] = field(default_factory=dict)
    # jobs that succeeded (read from the state store): (stack, job, hash)
    jobs_done: frozenset[JobKey] = frozenset()

    def host(self, name: str) -> ObservedHost:
        """The host as observed; a host nobody observed is empty (fresh)."""
        return self.hosts.get(name) or ObservedHost(name)


class Health(str, Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"
