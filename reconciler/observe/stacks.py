"""Read the Docker engine: compose containers, networks, volumes and local image digests. Does I/O
(the listings are :func:`reconciler.drivers.docker.listing.list_compose_resources`; the parsing here is pure).

Exactly four API calls per observation, whatever the number of containers:
one label-filtered container listing (health is parsed from the listing's
Status text, no per-container inspect), one network listing, one volume
listing and one image listing (RepoDigests give the pinned references present
locally). One-off containers (``docker compose run``) are not services and are
left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from reconciler.core.model import COMPOSE_NETWORK, COMPOSE_PROJECT, COMPOSE_SERVICE, COMPOSE_VOLUME, is_oneoff
from reconciler.core.observed import ObservedContainer, ObservedNetwork, ObservedVolume
from reconciler.drivers.docker.listing import (
    ComposeListing,
    DockerReadApi,
    list_compose_containers,
    list_compose_resources,
)

__all__ = [
    "DockerObservation",
    "normalize_reference",
    "observe_docker",
    "parse_docker",
    "parse_health",
]

_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


class DockerObservation(NamedTuple):
    containers: tuple[ObservedContainer, ...]
    networks: tuple[ObservedNetwork, ...]
    volumes: tuple[ObservedVolume, ...]
    local_images: frozenset[str]


def parse_health(status: str) -> str | None:
    """Health from the listing's Status text: ``Up 5 minutes (healthy)`` -> healthy."""
    match = _HEALTH.search(status or "")
    if not match:
        return None
    return "starting" if match.group(1) == "health: starting" else match.group(1)


def normalize_reference(ref: str) -> str:
    """Docker shows Hub images short (``busybox@sha256:..``); spell every reference in full."""
    name = ref.split("@", 1)[0]
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


def observe_docker(
    api: DockerReadApi,
    pinned_refs: Iterable[str] | None = None,
    *,
    projects: Iterable[str] | None = None,
) -> DockerObservation:
    """Observe compose resources (optionally only ``projects``) and which ``pinned_refs`` are local.

    ``pinned_refs=None`` reports every digest reference present in the engine.
    """
    return parse_docker(list_compose_resources(api), pinned_refs, projects=projects)


def observe_containers(api: DockerReadApi, projects: Iterable[str]) -> tuple[ObservedContainer, ...]:
    """Only the compose containers of ``projects`` (one listing): what apply re-checks."""
    return parse_docker(list_compose_containers(api), (), projects=projects).containers


def parse_docker(
    listing: ComposeListing,
    pinned_refs: Iterable[str] | None = None,
    *,
    projects: Iterable[str] | None = None,
) -> DockerObservation:
    """The observation in the four raw listings. Pure."""
    wanted_projects = set(projects) if projects is not None else None
    raw_containers, raw_networks, raw_volumes, raw_images = listing

    def keep(labels: Mapping[str, str]) -> bool:
        return wanted_projects is None or labels.get(COMPOSE_PROJECT) in wanted_projects

    containers = []
    for c in raw_containers:
        labels: dict[str, str] = dict(c.get("Labels") or {})
        if not keep(labels) or is_oneoff(labels):
            continue
        names = c.get("Names") or []
        containers.append(
            ObservedContainer(
                id=str(c["Id"]),
                name=str(names[0]).lstrip("/") if names else str(c["Id"])[:12],
                project=labels.get(COMPOSE_PROJECT, ""),
                service=labels.get(COMPOSE_SERVICE, ""),
                state=str(c.get("State", "")),
                health=parse_health(str(c.get("Status", ""))),
                labels=labels,
                image=str(c.get("Image", "")),
            )
        )
    networks = [
        ObservedNetwork(
            name=str(n["Name"]),
            project=(n.get("Labels") or {}).get(COMPOSE_PROJECT, ""),
            key=(n.get("Labels") or {}).get(COMPOSE_NETWORK, ""),
            id=str(n.get("Id", "")),
            created=str(n.get("Created", "")),
        )
        for n in raw_networks
        if keep(n.get("Labels") or {})
    ]
    volumes = [
        ObservedVolume(
            name=str(v["Name"]),
            project=(v.get("Labels") or {}).get(COMPOSE_PROJECT, ""),
            key=(v.get("Labels") or {}).get(COMPOSE_VOLUME, ""),
        )
        for v in raw_volumes
        if keep(v.get("Labels") or {})
    ]
    present = {normalize_reference(d) for img in raw_images for d in (img.get("RepoDigests") or [])}
    if pinned_refs is not None:
        wanted = {ref: normalize_reference(ref) for ref in pinned_refs}
        local = frozenset(ref for ref, norm in wanted.items() if norm in present)
    else:
        local = frozenset(present)
    return DockerObservation(
        containers=tuple(sorted(containers, key=lambda c: (c.project, c.service, c.name))),
        networks=tuple(sorted(networks, key=lambda n: n.name)),
        volumes=tuple(sorted(volumes, key=lambda v: v.name)),
        local_images=local,
    )
