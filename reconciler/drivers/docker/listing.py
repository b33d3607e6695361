"""Listing a Docker engine's Compose resources: the observers' only read. Does I/O.

:func:`list_compose_resources` makes four label-filtered listings (every
compose container in any state, network and volume, and every local image)
and returns the raw dicts; parsing them is :mod:`reconciler.observe.stacks`'s.
:func:`list_compose_containers` is apply's one-call re-check. Both take a
:class:`DockerReadApi`: a :class:`docker.APIClient` or the read-only wrapper
(:mod:`reconciler.drivers.readonly`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from reconciler.core.model import COMPOSE_PROJECT
from reconciler.drivers.docker.client import translate_docker_errors


class DockerReadApi(Protocol):
    """The listing calls the observers make: a :class:`docker.APIClient` or the read-only wrapper."""

    def containers(self, *args: Any, **kwargs: Any) -> Any: ...
    def networks(self, *args: Any, **kwargs: Any) -> Any: ...
    def volumes(self, *args: Any, **kwargs: Any) -> Any: ...
    def images(self, *args: Any, **kwargs: Any) -> Any: ...


class ComposeListing(NamedTuple):
    """The raw answers of the four listings an observation makes."""

    containers: list[dict[str, Any]]
    networks: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    images: list[dict[str, Any]]


def list_compose_resources(api: DockerReadApi) -> ComposeListing:
    """Every compose container (any state), network and volume, and every local image: four calls."""
    with translate_docker_errors(api):
        containers: list[dict[str, Any]] = api.containers(all=True, filters={"label": COMPOSE_PROJECT})
        networks: list[dict[str, Any]] = api.networks(filters={"label": COMPOSE_PROJECT})
        volumes: list[dict[str, Any]] = api.volumes(filters={"label": COMPOSE_PROJECT}).get("Volumes") or []
        images: list[dict[str, Any]] = api.images()
    return ComposeListing(containers, networks, volumes, images)


def list_compose_containers(api: DockerReadApi) -> ComposeListing:
    """Every compose container (any state) and nothing else: one call (apply's re-check)."""
    with translate_docker_errors(api):
        containers: list[dict[str, Any]] = api.containers(all=True, filters={"label": COMPOSE_PROJECT})
    return ComposeListing(containers, [], [], [])
