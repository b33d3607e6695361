"""Docker engine driver: connect, list compose resources, pull by digest, wait, remove. Does I/O.

Uses the low-level :class:`docker.APIClient` (injected). Every operation is safe
to repeat: pulling an image that is present does nothing, removing a container
that is gone is done. Waiting polls ``inspect`` with an injected clock and
sleep. :func:`list_compose_resources` is the observers' only read (four
label-filtered listings, raw dicts; parsing is :mod:`reconciler.observe.stacks`'s).
Failures become :class:`~reconciler.core.errors.TemporaryError` (engine unreachable,
timed out, HTTP 5xx) or :class:`~reconciler.core.errors.PermanentError` (HTTP 4xx;
``ServiceFailed`` for a service that is unhealthy, exited or too slow), naming
the engine's socket/URL, with secrets masked. :class:`DockerCallCounter` counts
API calls through requests' response hook.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlparse

import docker
import docker.errors
import docker.tls
import requests

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError
from reconciler.core.model import (
    COMPOSE_NETWORK,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    COMPOSE_VOLUME,
    OWNER_KEY,
    is_oneoff,
    made_by_compose,
)
from reconciler.core.secrets import redact
from reconciler.drivers.dockerhost import DEFAULT_SOCKET, looks_temporary
from reconciler.drivers.waits import Condition, ServiceFailed, wait_services

if TYPE_CHECKING:
    from reconciler.drivers.registry import RegistryAuth

__all__ = ["DEFAULT_SOCKET", "ServiceFailed", "looks_temporary"]

UNREACHABLE = "cannot connect to the Docker engine: is dockerd running?"



class DockerReadApi(Protocol):
    """The listing calls the observers make: a :class:`docker.APIClient` or the read-only wrapper."""

    def containers(self, *args: Any, **kwargs: Any) -> Any: ...
    def networks(self, *args: Any, **kwargs: Any) -> Any: ...
    def volumes(self, *args: Any, **kwargs: Any) -> Any: ...
    def images(self, *args: Any, **kwargs: Any) -> Any: ...


def connect(
    host: str | None = None, *, timeout: int = 60, tls_cert_path: Path | None = None, tls_verify: bool = True
) -> docker.APIClient:
    """A low-level client for ``host`` (default: DOCKER_HOST or the local socket).

    ``tcp://`` with ``tls_cert_path`` (ca.pem, cert.pem, key.pem, Docker's
    layout) speaks TLS; ``ssh://user@host`` goes through the ssh client."""
    where = host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if host and host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        raise TemporaryError(f"docker {where}", UNREACHABLE, endpoint=where)
    try:
        if host:
            tls: docker.tls.TLSConfig | bool = False
            if tls_cert_path is not None:
                for name in ("ca.pem", "cert.pem", "key.pem"):
                    if not (tls_cert_path / name).is_file():
                        raise PermanentError(
                            f"docker {where}", f"TLS file {tls_cert_path / name} not found", endpoint=where
                        )
                tls = docker.tls.TLSConfig(
                    client_cert=(str(tls_cert_path / "cert.pem"), str(tls_cert_path / "key.pem")),
                    ca_cert=str(tls_cert_path / "ca.pem") if tls_verify else None,
                    verify=tls_verify,
                )
            return docker.APIClient(
                base_url=host,
                version="auto",
                timeout=timeout,
                tls=tls,
                use_ssh_client=host.startswith("ssh://"),
            )
        env = docker.from_env(version="auto", timeout=timeout)
        return env.api
    except docker.errors.DockerException:
        raise TemporaryError(f"docker {where}", UNREACHABLE, endpoint=where) from None


def describe_host(api: Any) -> str:
    """The engine's socket or URL (``unix:///var/run/docker.sock``, ``http://127.0.0.1:2375``)."""
    adapter = getattr(api, "_custom_adapter", None)
    socket_path = getattr(adapter, "socket_path", None)
    if isinstance(socket_path, str):
        return f"unix://{socket_path}"
    return str(getattr(api, "base_url", "engine"))


def api_error_to_world(
    exc: docker.errors.APIError, resource: str, *, endpoint: str, prefix: str = "", secrets: Collection[str] = ()
) -> TemporaryError | PermanentError:
    """HTTP 5xx (or a text saying unreachable/overloaded) -> Temporary; 4xx -> Permanent. Pure."""
    message = prefix + redact(_explain(exc), secrets)
    status = exc.status_code
    if (status is not None and (status >= 500 or status == 429)) or (status is None and looks_temporary(message)):
        return TemporaryError(resource, message, endpoint=endpoint)
    return PermanentError(resource, message, endpoint=endpoint)


@contextmanager
def translate_docker_errors(api: Any, resource: str | None = None) -> Iterator[None]:
    """Docker SDK/requests failures -> TemporaryError/PermanentError naming the engine or the resource."""
    where = describe_host(api)
    engine = f"docker {where}"
    try:
        yield
    except ReconcilerError:
        raise
    except requests.ConnectionError:
        raise TemporaryError(engine, UNREACHABLE, endpoint=where) from None
    except requests.Timeout:
        raise TemporaryError(engine, "the Docker engine did not answer in time", endpoint=where) from None
    except docker.errors.APIError as exc:
        raise api_error_to_world(exc, resource or engine, endpoint=where) from None
    except docker.errors.DockerException as exc:
        error = TemporaryError if looks_temporary(str(exc)) else PermanentError
        raise error(resource or engine, str(exc), endpoint=where) from None


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


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    text = explanation.decode(errors="replace") if isinstance(explanation, bytes) else str(explanation or exc)
    return f"{text} (HTTP {exc.status_code})" if exc.status_code else text


class DockerCallCounter:
    """Counts Docker API calls (method + path without the /v1.xx prefix) via requests' response hook."""

    _VERSION = re.compile(r"^/v\d+\.\d+")

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def attach(self, api: docker.APIClient) -> DockerCallCounter:
        api.hooks["response"].append(self._on_response)
        return self

    def detach(self, api: docker.APIClient) -> None:
        if self._on_response in api.hooks["response"]:
            api.hooks["response"].remove(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        path = self._VERSION.sub("", urlparse(str(request.url)).path)
        with self._lock:
            self.calls[(str(request.method), path)] += 1

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return sum(
            n for (m, p), n in self.calls.items() if (method is None or m == method) and (path is None or p == path)
        )

    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


class DockerEngine:
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
                    resource, "not found in the registry: " + redact(_explain(exc), secrets), endpoint=self.endpoint
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

    def wait_healthy(
        self,
        project: str,
        service: str,
        *,
        timeout: float = 120.0,
        interval: float = 1.0,
        secrets: Collection[str] = (),
    ) -> None:
        """Return when every container of the service is healthy; raise ServiceFailed when one is
        unhealthy, stopped, has no healthcheck, or the timeout passes."""
        self._wait_one(project, service, "healthy", timeout, interval, secrets)

    def wait_completed(
        self,
        project: str,
        service: str,
        *,
        timeout: float = 120.0,
        interval: float = 1.0,
        secrets: Collection[str] = (),
    ) -> None:
        """Return when every container of the service exited with code 0."""
        self._wait_one(project, service, "completed", timeout, interval, secrets)

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
        timeout: float,
        interval: float,
        secrets: Collection[str],
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
