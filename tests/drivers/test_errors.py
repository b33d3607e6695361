"""World errors as types: which failures are worth retrying (TemporaryError) and which are not
(PermanentError), each naming the resource and the endpoint. Pure classification first, then the
real sandbox: an unreachable moto port, a dead Docker socket, a registry that refuses auth."""

from __future__ import annotations

import gc
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.exceptions
import docker
import docker.errors
import pytest
import requests
from botocore.exceptions import ClientError
from brokenengine import BrokenEngine

from drivers.worldkit import PushedImage, aws, uid
from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError, WorldError
from reconciler.drivers.aws.errors import client_error_to_world, translate_errors
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker.client import api_error_to_world, connect, translate_docker_errors
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.registry.oci import OciRegistry
from reconciler.drivers.waits import ServiceFailed
from reconciler.observe.stacks import observe_docker


def client_error(code: str, status: int = 400, op: str = "GetParametersByPath", **headers: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
        },
        op,
    )


# ---- pure classification ---------------------------------------------------------


def test_hierarchy_and_message_names_resource_and_endpoint() -> None:
    err = TemporaryError("ssm /p", "throttled", endpoint="http://aws:1", retry_after=2.0)
    assert isinstance(err, WorldError) and isinstance(err, ReconcilerError)
    assert str(err) == "ssm /p: throttled (at http://aws:1)"
    assert (err.resource, err.endpoint, err.retry_after) == ("ssm /p", "http://aws:1", 2.0)
    # an endpoint already named is not repeated; an unknown one is left out
    assert str(PermanentError("x", "cannot reach http://aws:1", endpoint="http://aws:1")) == (
        "x: cannot reach http://aws:1"
    )
    assert str(PermanentError("x", "denied")) == "x: denied"
    assert issubclass(ServiceFailed, PermanentError)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("TooManyUpdates", 400),
        ("Throttling", 400),
        ("RequestLimitExceeded", 503),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
        ("500", 500),
        ("SomethingNew", 502),
    ],
)
def test_client_errors_worth_retrying_are_temporary(code: str, status: int) -> None:
    err = client_error_to_world(client_error(code, status), "ssm /p", endpoint="http://aws:1")
    assert isinstance(err, TemporaryError)
    assert code in str(err) and "GetParametersByPath" in str(err) and "http://aws:1" in str(err)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 400),
        ("AccessDenied", 403),
        ("UnrecognizedClientException", 400),
        ("ExpiredTokenException", 400),
        ("ValidationException", 400),
        ("ParameterNotFound", 400),
        ("ParameterAlreadyExists", 400),
        ("RepositoryNotFoundException", 400),
    ],
)
def test_client_errors_that_will_not_heal_are_permanent(code: str, status: int) -> None:
    err = client_error_to_world(client_error(code, status), "ssm /p", endpoint="http://aws:1")
    assert isinstance(err, PermanentError) and not isinstance(err, TemporaryError)
    assert code in str(err) and str(err).endswith("(at http://aws:1)")


def test_retry_after_header_is_kept() -> None:
    err = client_error_to_world(client_error("ThrottlingException", 400, **{"retry-after": "7"}), "ssm /p")
    assert isinstance(err, TemporaryError) and err.retry_after == 7.0
    assert client_error_to_world(client_error("Throttling"), "ssm /p").retry_after is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("exc", "kind", "needle"),
    [
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x:1"), TemporaryError, "http://x:1"),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x:1"), TemporaryError, "read timeout"),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x:1"), TemporaryError, "connect timeout"),
        (botocore.exceptions.ConnectionClosedError(endpoint_url="http://x:1"), TemporaryError, "http://x:1"),
        (botocore.exceptions.NoCredentialsError(), PermanentError, "no AWS credentials"),
        (botocore.exceptions.NoRegionError(), PermanentError, "no AWS region"),
        (botocore.exceptions.ParamValidationError(report="bad Name"), PermanentError, "bad Name"),
    ],
)
def test_botocore_client_side_errors(exc: Exception, kind: type[WorldError], needle: str) -> None:
    with pytest.raises(WorldError) as info, translate_errors("ssm /p", endpoint="http://x:1"):
        raise exc
    assert type(info.value) is kind
    assert needle in str(info.value) and "http://x:1" in str(info.value)
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, TemporaryError),
        (503, TemporaryError),
        (429, TemporaryError),
        (404, PermanentError),
        (409, PermanentError),
        (400, PermanentError),
    ],
)
def test_docker_api_errors_by_status(status: int, kind: type[WorldError]) -> None:
    response = requests.Response()
    response.status_code = status
    exc = docker.errors.APIError("boom", response=response, explanation="it broke")
    err = api_error_to_world(exc, "container abc", endpoint="unix:///x.sock")
    assert type(err) is kind
    answered = "the Docker engine answered with an error: " if status >= 500 else ""
    assert str(err) == f"container abc: {answered}it broke (HTTP {status}) (at unix:///x.sock)"


def fake_run(returncode: int, stderr: str) -> Any:
    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    return run


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?", TemporaryError),
        ('service "web" refers to undefined network back: invalid compose project', PermanentError),
        ("Error response from daemon: pull access denied for x, repository does not exist", PermanentError),
    ],
)
def test_compose_failures(stderr: str, kind: type[WorldError], tmp_path: Path) -> None:
    runner = ComposeRunner(["docker", "compose"], fake_run(1, stderr), docker_host="unix:///x.sock", base_env={})
    with pytest.raises(WorldError) as info:
        runner.up("p", tmp_path, [tmp_path / "c.yml"], "web", environment={})
    assert type(info.value) is kind
    assert str(info.value).startswith("compose p/web: docker compose up failed (exit 1): ")
    assert "unix:///x.sock" in str(info.value)


def test_compose_timeout_is_temporary(tmp_path: Path) -> None:
    def slow(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd, 1)

    runner = ComposeRunner(["docker", "compose"], slow, timeout=1, base_env={})
    with pytest.raises(TemporaryError, match="did not finish within 1s"):
        runner.config("p", tmp_path, [], environment={})


# ---- the real world -----------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.world
def test_unreachable_moto_port_is_temporary_naming_the_endpoint() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    clients = aws(url, attempts=1)
    with pytest.raises(TemporaryError) as info, translate_errors("ssm /p"):
        clients.ssm.get_parameters_by_path(Path="/p")
    assert info.value.endpoint.rstrip("/") == url  # botocore names the request URL
    assert str(info.value).startswith(f"ssm /p: cannot connect to {url}")
    assert str(info.value).endswith(": is the endpoint reachable?")


@pytest.mark.world
def test_denied_by_moto_is_permanent(sandbox) -> None:  # type: ignore[no-untyped-def]
    clients = aws(sandbox.moto_url)
    from reconciler.drivers.ssm import SsmWriter

    with pytest.raises(PermanentError) as info:
        # AWS forbids the /aws prefix: a ValidationException, never healed by a retry
        SsmWriter(clients.ssm, sleep=lambda _: None).put("/aws/forbidden", "String", "v", overwrite=True)
    assert "PutParameter" in str(info.value) and sandbox.moto_url in str(info.value)


# docker-py leaks the socket of a failed unix connect (gc closes it with a ResourceWarning)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_or_dead_docker_socket_is_temporary(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/missing.sock"
    with pytest.raises(TemporaryError) as info:
        connect(missing)
    assert info.value.endpoint == missing
    # a socket file nobody listens on any more: a stopped dockerd
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    api = docker.APIClient(base_url=f"unix://{path}", version="1.41")
    try:
        with pytest.raises(TemporaryError) as info:
            observe_docker(api)
        assert info.value.endpoint == f"unix://{path}"
        assert str(info.value) == f"docker unix://{path}: cannot connect to the Docker engine: is dockerd running?"
    finally:
        api.close()
    del info
    gc.collect()


@pytest.mark.world
@pytest.mark.parametrize("status", [500, 503])
def test_an_engine_answering_5xx_is_temporary_and_says_it_answered(status: int) -> None:
    """A real HTTP server answering the Docker API with an error: a connection was made, so it is
    no "cannot connect"; the status and the engine's message are named, with the endpoint."""
    with BrokenEngine(status, "the engine broke:\n  disk full") as engine:
        with pytest.raises(TemporaryError) as info:
            connect(engine.url, timeout=5)
        assert engine.requests == ["GET /version"]
    assert str(info.value) == (
        f"docker {engine.url}: the Docker engine answered with an error: the engine broke: disk full (HTTP {status})"
    )
    assert info.value.endpoint == engine.url


def test_an_engine_failing_after_the_version_is_temporary_and_says_it_answered() -> None:
    with BrokenEngine(500, "listing failed", version="1.41") as engine:
        api = connect(engine.url, timeout=5)
        try:
            with pytest.raises(TemporaryError) as info:
                observe_docker(api)
        finally:
            api.close()
    assert "the Docker engine answered with an error: listing failed (HTTP 500)" in str(info.value)
    assert "cannot connect" not in str(info.value) and info.value.endpoint.endswith(engine.url[len("tcp://") :])


def test_something_else_answering_is_permanent_and_no_engine() -> None:
    with BrokenEngine(200, "hello", version=None) as engine, pytest.raises(PermanentError) as info:
        connect(engine.url, timeout=5)
    assert str(info.value).startswith(f"docker {engine.url}: answered, but not as a Docker engine: ")


def test_a_closed_tcp_port_is_cannot_connect() -> None:
    url = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(TemporaryError) as info:
        connect(url, timeout=5)
    assert str(info.value) == f"docker {url}: cannot connect to the Docker engine: is dockerd running?"


def test_docker_4xx_is_permanent(docker_api: docker.APIClient) -> None:
    with pytest.raises(PermanentError) as info, translate_docker_errors(docker_api, "network nope"):
        docker_api.inspect_network(f"nope-{uid()}")
    assert "HTTP 404" in str(info.value) and info.value.endpoint
    assert DockerEngine(docker_api).remove_containers(["0" * 64]) == 0  # gone = done, not an error


@pytest.mark.world
def test_registry_missing_tag_is_absent_not_an_error(sandbox, test_image: PushedImage) -> None:  # type: ignore[no-untyped-def]
    with requests.Session() as http:
        reg = OciRegistry(http, sandbox.registry, insecure=True)
        assert reg.resolve(test_image.repository, ["no-such-tag"]) == {}
        assert reg.digest(test_image.repository, "sha256:" + "0" * 64) is None


class Refusing(BaseHTTPRequestHandler):
    """A registry that wants a Bearer token, and a token service that refuses anonymous access."""

    status = 401

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(self.status if self.path.startswith("/token") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="http://{self.headers["Host"]}/token",service="t"')
        self.end_headers()


@pytest.fixture()
def refusing() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_registry_refusing_auth_is_permanent(refusing: ThreadingHTTPServer) -> None:
    host = f"127.0.0.1:{refusing.server_port}"
    with requests.Session() as http:
        reg = OciRegistry(http, host, insecure=True)
        with pytest.raises(PermanentError) as info:
            reg.resolve("lib/app", ["1"])
    assert f"token service http://{host}/token refused anonymous access (HTTP 401)" in str(info.value)
    assert str(info.value).startswith(f"registry {host}: ")


def test_registry_token_service_down_is_temporary(refusing: ThreadingHTTPServer) -> None:
    host = f"127.0.0.1:{refusing.server_port}"
    Refusing.status = 503
    try:
        with requests.Session() as http, pytest.raises(TemporaryError):
            OciRegistry(http, host, insecure=True).resolve("lib/app", ["1"])
    finally:
        Refusing.status = 401


def test_registry_unreachable_is_temporary() -> None:
    host = f"127.0.0.1:{closed_port()}"
    with requests.Session() as http, pytest.raises(TemporaryError) as info:
        OciRegistry(http, host, insecure=True, timeout=2).resolve("lib/app", ["1"])
    assert info.value.endpoint == f"http://{host}"
