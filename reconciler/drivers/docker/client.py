"""The Docker engine client: connecting, naming the engine, its failures as errors, counting calls. Does I/O.

:func:`connect` gives a low-level :class:`docker.APIClient` (local socket,
``tcp://`` with TLS, ``ssh://``); the drivers receive it as an argument.
:func:`translate_docker_errors` turns the SDK's and requests' failures into
:class:`~reconciler.core.errors.TemporaryError` (engine unreachable, timed out,
HTTP 5xx: "answered with an error", its status and message) or
:class:`~reconciler.core.errors.PermanentError` (HTTP 4xx), naming the engine's
socket/URL (:func:`describe_host`), with secrets masked; "cannot connect" only when
no connection was made (also when :func:`connect` asks the engine its API version).
:class:`DockerCallCounter` counts API calls through requests' response hook.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import docker.tls
import requests

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError, WorldError
from reconciler.core.secrets import redact
from reconciler.drivers.dockerhost import DEFAULT_SOCKET, looks_temporary

UNREACHABLE = "cannot connect to the Docker engine: is dockerd running?"  # no connection was made
NO_ANSWER = "the Docker engine did not answer in time"
ANSWERED_WITH_ERROR = "the Docker engine answered with an error: "  # an HTTP 5xx, its status and message follow
MAX_EXPLANATION = 300  # characters of an engine's (or a proxy's HTML) explanation kept in a message


def connect(
    host: str | None = None, *, timeout: int = 60, tls_cert_path: Path | None = None, tls_verify: bool = True
) -> docker.APIClient:
    """A low-level client for ``host`` (default: DOCKER_HOST or the local socket).

    ``tcp://`` with ``tls_cert_path`` (ca.pem, cert.pem, key.pem, Docker's
    layout) speaks TLS; ``ssh://user@host`` goes through the ssh client."""
    where = host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    if host and host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        raise TemporaryError(f"docker {where}", UNREACHABLE, endpoint=where)
    if host and host.startswith("ssh://"):
        _ssh_transport(where)
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
    except docker.errors.DockerException as exc:
        raise _connect_failure(exc, where) from None


def _ssh_transport(where: str) -> None:
    """docker-py's ssh transport, loaded and made to reap its ssh processes (:mod:`.ssh`)."""
    try:
        from reconciler.drivers.docker import ssh
    except ImportError:  # docker-py loads its ssh transport only when paramiko is installed
        raise PermanentError(
            f"docker {where}", "ssh:// needs paramiko next to the Docker SDK: pip install 'docker[ssh]'", endpoint=where
        ) from None
    ssh.install()


def _connect_failure(exc: docker.errors.DockerException, where: str) -> WorldError:
    """Why asking the engine its API version failed: it answered with an error (an HTTP status
    and its message), or answered but not as a Docker engine, or did not answer in time; only
    when no connection was made at all is it "cannot connect"."""
    cause = exc.__cause__
    engine = f"docker {where}"
    if isinstance(cause, docker.errors.APIError):
        return api_error_to_world(cause, engine, endpoint=where)
    if isinstance(cause, KeyError):  # answered 200 without an ApiVersion: something else listens there
        return PermanentError(engine, f"answered, but not as a Docker engine: {one_line(str(exc))}", endpoint=where)
    if isinstance(cause, requests.Timeout) and not isinstance(cause, requests.ConnectionError):
        return TemporaryError(engine, NO_ANSWER, endpoint=where)
    return TemporaryError(engine, UNREACHABLE, endpoint=where)


def describe_host(api: Any) -> str:
    """The engine's socket or URL (``unix:///var/run/docker.sock``, ``http://127.0.0.1:2375``)."""
    adapter = getattr(api, "_custom_adapter", None)
    socket_path = getattr(adapter, "socket_path", None)
    if isinstance(socket_path, str):
        return f"unix://{socket_path}"
    return str(getattr(api, "base_url", "engine"))


def one_line(text: str, limit: int = MAX_EXPLANATION) -> str:
    """``text`` on one line (whitespace runs as one space), cut at ``limit`` characters. Pure."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def api_error_text(exc: docker.errors.APIError) -> str:
    """The engine's explanation of a failed call (on one line), with its HTTP status. Pure."""
    explanation = exc.explanation
    text = explanation.decode(errors="replace") if isinstance(explanation, bytes) else str(explanation or exc)
    text = one_line(text)
    return f"{text} (HTTP {exc.status_code})" if exc.status_code else text


#: what the engine relays when a registry refused the credentials (Docker Hub, distribution's token service)
_REGISTRY_REFUSED = re.compile(r"unauthorized: incorrect username or password|unauthorized: authentication required")


def api_error_to_world(
    exc: docker.errors.APIError, resource: str, *, endpoint: str, prefix: str = "", secrets: Collection[str] = ()
) -> TemporaryError | PermanentError:
    """HTTP 5xx (the engine answered with an error; or a text saying unreachable/overloaded) ->
    Temporary, unless a registry refused the credentials (the engine says so with a 500: trying
    again cannot help); 4xx -> Permanent. Pure."""
    status = exc.status_code
    answered = ANSWERED_WITH_ERROR if status is not None and status >= 500 else ""
    message = prefix + answered + redact(api_error_text(exc), secrets)
    if _REGISTRY_REFUSED.search(message):
        return PermanentError(resource, message, endpoint=endpoint)
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
        raise TemporaryError(engine, NO_ANSWER, endpoint=where) from None
    except docker.errors.APIError as exc:
        raise api_error_to_world(exc, resource or engine, endpoint=where) from None
    except docker.errors.DockerException as exc:
        error = TemporaryError if looks_temporary(str(exc)) else PermanentError
        raise error(resource or engine, str(exc), endpoint=where) from None


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
