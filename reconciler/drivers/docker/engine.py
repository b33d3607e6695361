"""The Docker engine driver's operations: pull by digest, inspect, wait, read logs, remove. Does I/O.

:class:`DockerEngine` wraps an injected :class:`docker.APIClient`. Every
operation is safe to repeat: pulling an image that is present does nothing,
removing a container that is gone is done. Waiting polls ``inspect`` with an
injected clock and sleep (:mod:`reconciler.drivers.waits`). Failures are
translated as :mod:`.client` does; ``ServiceFailed`` (a PermanentError) names
a service that is unhealthy, exited or too slow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypedDict, Unpack

import docker
import docker.errors

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.core.model import (
    COMPOSE_NETWORK,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    COMPOSE_VOLUME,
    JOB_KEY,
    OWNER_KEY,
    is_oneoff,
    made_by_compose,
)
from reconciler.core.secrets import redact
from reconciler.drivers.docker.client import api_error_text, api_error_to_world, describe_host, translate_docker_errors
from reconciler.drivers.dockerhost import looks_temporary
from reconciler.drivers.registry.auth import RegistryAuth
from reconciler.drivers.waits import Condition, ServiceFailed, wait_services


class WaitOne(TypedDict, total=False):
    """How :meth:`DockerEngine.wait_healthy` and ``wait_completed`` wait: up to ``timeout`` seconds
    (120), looking every ``interval`` seconds (1), masking ``secrets`` in what they report."""

    timeout: float
    interval: float
    secrets: Collection[str]


class DockerEngine:
    """What the executor does to one engine, through its low-level client ``api``."""

    def __init__(
        self,
        api: docker.APIClient,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.endpoint = describe_host(api)
        self._sleep = sleep
        self._clock = clock

    # ---- images ----------------------------------------------------------

    def image_present(self, reference: str) -> bool:
        with translate_docker_errors(self.api, f"image {reference}"):
            try:
                self.api.inspect_image(reference)  # type: ignore[no-untyped-call]
            except docker.errors.NotFound:
                return False
        return True

    def pull(self, reference: str, auth: RegistryAuth | None = None) -> bool:
        """Pull ``reference`` (registry/repository@sha256:...). False when it was already present."""
        if self.image_present(reference):
            return False
        resource = f"image {reference}"
        secrets = (auth.password.reveal(),) if auth else ()
        with translate_docker_errors(self.api, resource):
            try:
                stream = self.api.pull(
                    reference,
                    stream=True,
                    decode=True,
                    auth_config=auth.docker_auth_config() if auth else None,
                )
                for chunk in stream:
                    if isinstance(chunk, dict) and chunk.get("error"):
                        text = "pull failed: " + redact(str(chunk["error"]), secrets)
                        error = TemporaryError if looks_temporary(text) else PermanentError
                        raise error(resource, text, endpoint=self.endpoint)
            except docker.errors.NotFound as exc:
                raise PermanentError(
                    resource,
                    "not found in the registry: " + redact(api_error_text(exc), secrets),
                    endpoint=self.endpoint,
                ) from None
            except docker.errors.APIError as exc:
                raise api_error_to_world(
                    exc, resource, endpoint=self.endpoint, prefix="pull failed: ", secrets=secrets
                ) from None
        if not self.image_present(reference):
            raise PermanentError(resource, "pull finished but the image is not in the engine", endpoint=self.endpoint)
        return True

    # ---- containers ------------------------------------------------------

    def service_containers(self, project: str, service: str) -> list[dict[str, Any]]:
        """Containers (any state, not one-off) of one compose service: one filtered listing."""
        with translate_docker_errors(self.api, f"service {project}/{service}"):
            found = self.api.containers(
                all=True,
                filters={"label": [f"{COMPOSE_PROJECT}={project}", f"{COMPOSE_SERVICE}={service}"]},
            )
        # Compose's own containers only: a look-alike carrying the labels is never acted on or waited for
        return [c for c in found if made_by_compose(c.get("Labels") or {}) and not is_oneoff(c.get("Labels") or {})]

    def inspect(self, container_id: str) -> dict[str, Any] | None:
        with translate_docker_errors(self.api, f"container {container_id[:12]}"):
            try:
                result: dict[str, Any] = self.api.inspect_container(container_id)
            except docker.errors.NotFound:
                return None
        return result

    def wait_healthy(self, project: str, service: str, **options: Unpack[WaitOne]) -> None:
        """Return when every container of the service is healthy; raise ServiceFailed when one is
        unhealthy, stopped, has no healthcheck, or the timeout passes."""
        self._wait_one(project, service, "healthy", **options)

    def wait_completed(self, project: str, service: str, **options: Unpack[WaitOne]) -> None:
        """Return when every container of the service exited with code 0."""
        self._wait_one(project, service, "completed", **options)

    def wait_services(
        self,
        project: str,
        wanted: Mapping[str, Condition],
        *,
        timeout: float = 120.0,
        interval: float = 0.2,
        secrets: Collection[str] = (),
    ) -> dict[str, ServiceFailed]:
        """Wait for several services at once (one polling loop); the ones that failed."""
        return wait_services(
            self,
            project,
            wanted,
            timeout=timeout,
            interval=interval,
            secrets=secrets,
            clock=self._clock,
            sleep=self._sleep,
        )

    def _wait_one(
        self,
        project: str,
        service: str,
        condition: Condition,
        *,
        timeout: float = 120.0,
        interval: float = 1.0,
        secrets: Collection[str] = (),
    ) -> None:
        failed = self.wait_services(project, {service: condition}, timeout=timeout, interval=interval, secrets=secrets)
        if service in failed:
            raise failed[service]

    def log_tail(self, container_id: str) -> str:
        """The last lines of a container's output ('' when it is gone)."""
        with translate_docker_errors(self.api, f"container {container_id[:12]}"):
            try:
                raw = self.api.logs(container_id, stdout=True, stderr=True, tail=5)
            except docker.errors.NotFound:
                return ""
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)

    def remove_containers(
        self, ids: Iterable[str], *, expected_owner: str | None = None, stop_timeout: int | None = None
    ) -> int:
        """Stop and remove containers; gone = done. With ``expected_owner`` the owner label is
        re-checked right before. ``stop_timeout`` None = the container's own stop grace period
        (compose's ``stop_grace_period``, engine default 10 s). Returns how many were removed."""
        removed = 0
        for cid in ids:
            info = self.inspect(cid)
            if info is None:
                continue
            labels = (info.get("Config") or {}).get("Labels") or {}
            if expected_owner is not None and labels.get(OWNER_KEY) != expected_owner:
                raise PermanentError(
                    f"container {cid[:12]}",
                    f"not removed: its owner label is {labels.get(OWNER_KEY)!r}, expected {expected_owner!r}",
                    endpoint=self.endpoint,
                )
            with translate_docker_errors(self.api, f"container {cid[:12]}"):
                try:
                    self.api.stop(cid, timeout=stop_timeout)
                    self.api.remove_container(cid)
                except docker.errors.NotFound:
                    continue
            removed += 1
        return removed

    def remove_job_containers(self, project: str, job: str) -> int:
        """Kill and remove the one-off containers of a job (``docker compose run`` made them with the
        job label): the one a timeout left running, or one an interrupted run left behind."""
        with translate_docker_errors(self.api, f"job {project}/{job}"):
            found = self.api.containers(
                all=True, filters={"label": [f"{COMPOSE_PROJECT}={project}", f"{JOB_KEY}={job}"]}
            )
            removed = 0
            for container in found:
                if not is_oneoff(container.get("Labels") or {}):
                    continue
                try:
                    self.api.remove_container(container["Id"], force=True)
                except docker.errors.NotFound:
                    continue
                removed += 1
        return removed

    # ---- networks and volumes ---------------------------------------------

    def remove_network(self, network_id: str) -> bool:
        """Remove a network unless a container uses it; False when it is already gone."""
        resource = f"network {network_id[:12]}"
        with translate_docker_errors(self.api, resource):
            try:
                info: dict[str, Any] = self.api.inspect_network(network_id)
            except docker.errors.NotFound:
                return False
            users = info.get("Containers") or {}
            if users:
                raise PermanentError(resource, f"not removed: {len(users)} container(s) use it", endpoint=self.endpoint)
            try:
                self.api.remove_network(network_id)
            except docker.errors.NotFound:
                return False
        return True

    def network_exists(self, project: str, key: str) -> bool:
        with translate_docker_errors(self.api, f"network {project}/{key}"):
            found = self.api.networks(filters={"label": [f"{COMPOSE_PROJECT}={project}", f"{COMPOSE_NETWORK}={key}"]})
        return bool(found)

    def volume_exists(self, project: str, key: str) -> bool:
        with translate_docker_errors(self.api, f"volume {project}/{key}"):
            found = self.api.volumes(filters={"label": [f"{COMPOSE_PROJECT}={project}", f"{COMPOSE_VOLUME}={key}"]})
        return bool(found.get("Volumes"))
