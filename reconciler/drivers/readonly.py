"""Read-only clients by construction, for ``plan``, ``status`` and PR dry runs. Does I/O.

A plan must never change the world. Rather than trusting every observer to call
only reads, the clients handed to them refuse anything else *before a request
leaves the process*, with :class:`~reconciler.core.errors.ReadOnlyViolation` (a
:class:`~reconciler.core.errors.PermanentError`) naming the operation and the endpoint:

* :func:`read_only_boto3` hooks botocore's ``before-parameter-build`` event on a
  client: only operations named ``Get*``, ``Describe*``, ``List*`` and
  ``BatchGet*`` pass (SSM GetParametersByPath, DescribeParameters,
  ListTagsForResource; ECR DescribeImages, BatchGetImage, GetAuthorizationToken,
  which creates nothing; Secrets Manager GetSecretValue, BatchGetSecretValue).
* :class:`ReadOnlyDockerApi` wraps a :class:`docker.APIClient` and exposes an
  explicit allow-list of reads (listings, inspects, version, ping, info, events,
  logs); any other attribute is refused.
* :class:`ReadOnlySession` is a :class:`requests.Session` that sends only GET and
  HEAD (the registry resolver and its anonymous token fetch need nothing else).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

import docker
import requests

from reconciler.core.errors import ReadOnlyViolation
from reconciler.drivers.aws.errors import endpoint_of
from reconciler.drivers.docker.client import describe_host
from reconciler.drivers.docker.engine import DockerEngine

__all__ = [
    "DOCKER_READS",
    "HTTP_READS",
    "READ_PREFIXES",
    "DockerApi",
    "ReadOnlyDockerApi",
    "ReadOnlySession",
    "docker_engine",
    "is_read_operation",
    "read_only_boto3",
]

C = TypeVar("C")

READ_PREFIXES = ("Get", "Describe", "List", "BatchGet")
HTTP_READS = frozenset({"GET", "HEAD"})
HOOK_ID = "reconciler-read-only"


# --------------------------------------------------------------------------
# boto3
# --------------------------------------------------------------------------


def is_read_operation(operation: str) -> bool:
    """Whether an AWS operation name is a read by its verb (``GetParametersByPath``: yes). Pure."""
    return operation.startswith(READ_PREFIXES)


def read_only_boto3(client: C) -> C:
    """The same boto3 client, refusing every operation that is not a read (see :data:`READ_PREFIXES`).

    The refusal happens before parameters are validated or a request is signed:
    nothing reaches the endpoint, and call counters (``before-call``) do not see it.
    Idempotent.
    """
    meta: Any = getattr(client, "meta")  # noqa: B009 - typed stubs hide .meta behind the generic
    service = str(meta.service_model.service_name)
    endpoint = endpoint_of(client)

    def refuse_writes(model: Any = None, **_: Any) -> None:
        name = str(getattr(model, "name", ""))
        if not is_read_operation(name):
            raise ReadOnlyViolation(service, name, endpoint=endpoint)

    meta.events.register("before-parameter-build", refuse_writes, unique_id=HOOK_ID)
    return client


# --------------------------------------------------------------------------
# Docker
# --------------------------------------------------------------------------

DOCKER_READS = frozenset(
    {
        "containers",
        "images",
        "networks",
        "volumes",
        "inspect_container",
        "inspect_image",
        "inspect_network",
        "inspect_volume",
        "version",
        "ping",
        "info",
        "events",
        "logs",
        "df",
        "top",
        "history",
    }
)


class ReadOnlyDockerApi:
    """A :class:`docker.APIClient` limited to :data:`DOCKER_READS`; usable wherever the observers
    take the API (:class:`~reconciler.drivers.docker.listing.DockerReadApi`). ``hooks`` (call counters)
    and ``close`` pass through; every other public attribute raises ReadOnlyViolation."""

    def __init__(self, api: docker.APIClient) -> None:
        self._api = api
        self.base_url = describe_host(api)  # what error messages name

    @property
    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        hooks: dict[str, list[Callable[..., Any]]] = self._api.hooks
        return hooks

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> ReadOnlyDockerApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._api, name)(*args, **kwargs)

    def containers(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("containers", *args, **kwargs)

    def images(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("images", *args, **kwargs)

    def networks(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("networks", *args, **kwargs)

    def volumes(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("volumes", *args, **kwargs)

    def inspect_container(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("inspect_container", *args, **kwargs)

    def inspect_image(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("inspect_image", *args, **kwargs)

    def inspect_network(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("inspect_network", *args, **kwargs)

    def inspect_volume(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("inspect_volume", *args, **kwargs)

    def version(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("version", *args, **kwargs)

    def ping(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("ping", *args, **kwargs)

    def info(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("info", *args, **kwargs)

    def events(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("events", *args, **kwargs)

    def logs(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("logs", *args, **kwargs)

    def df(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("df", *args, **kwargs)

    def top(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("top", *args, **kwargs)

    def history(self, *args: Any, **kwargs: Any) -> Any:
        return self._read("history", *args, **kwargs)

    def __getattr__(self, name: str) -> NoReturn:
        # Called only for names not defined above. Private/dunder lookups (copy, pickle,
        # getattr(..., default)) get the usual AttributeError; public ones are refused.
        if name.startswith("_"):
            raise AttributeError(name)
        raise ReadOnlyViolation("docker", name, endpoint=self.base_url)


# --------------------------------------------------------------------------
# HTTP (registries)
# --------------------------------------------------------------------------


class ReadOnlySession(requests.Session):
    """A requests session that sends only GET and HEAD (redirects included); the rest is refused."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        method = (request.method or "").upper()
        if method not in HTTP_READS:
            url = str(request.url or "")
            parts = urlsplit(url)
            endpoint = f"{parts.scheme}://{parts.netloc}" if parts.netloc else url
            raise ReadOnlyViolation("http", f"{method} {parts.path or url}", endpoint=endpoint)
        return super().send(request, **kwargs)


def refuse_compose(cmd: list[str], **kwargs: Any) -> NoReturn:
    """A Compose runner (``ComposeRunner(run=...)``) for read-only worlds: Compose only ever
    changes the engine here (``up``), so every call is refused before a process starts."""
    verb = next((arg for arg in cmd if arg in ("up", "down", "create", "start", "stop", "rm", "pull")), "command")
    host = (kwargs.get("env") or {}).get("DOCKER_HOST", "")
    raise ReadOnlyViolation("docker compose", verb, endpoint=str(host))


DockerApi = docker.APIClient | ReadOnlyDockerApi  # a host's client: the read-only wrapper for plan and status


def docker_engine(api: DockerApi) -> DockerEngine:
    """The engine driver over a host's client (a read-only one refuses every write)."""
    return DockerEngine(cast(docker.APIClient, api))
