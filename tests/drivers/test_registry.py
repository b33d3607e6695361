"""drivers/registry and observe/registry: tag -> digest against the sandbox registry (OCI) and moto (ECR)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from drivers.worldkit import PushedImage, uid
from reconciler.core.errors import WorldError
from reconciler.core.model import ImageSpec
from reconciler.drivers.aws.clients import AwsClients, CallCounter
from reconciler.drivers.registry.auth import cached_logins
from reconciler.drivers.registry.ecr import EcrRegistry
from reconciler.drivers.registry.oci import OciRegistry
from reconciler.observe.images import Resolver, resolve_digests

pytestmark = pytest.mark.world


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def test_oci_resolves_existing_tags(sandbox, http: requests.Session, test_image: PushedImage) -> None:  # type: ignore[no-untyped-def]
    reg = OciRegistry(http, sandbox.registry, insecure=True)
    found = reg.resolve(test_image.repository, ["1", "2", "nope", "1"])
    assert found == {"1": test_image.digests["1"], "2": test_image.digests["2"]}
    assert found["1"] != found["2"]
    assert reg.digest(test_image.repository, test_image.digests["1"]) == test_image.digests["1"]


def test_oci_missing_repository_is_absent(sandbox, http: requests.Session) -> None:  # type: ignore[no-untyped-def]
    reg = OciRegistry(http, sandbox.registry, insecure=True)
    assert reg.resolve(f"test-{uid()}/none", ["1"]) == {}


def test_oci_unreachable_is_a_world_error(http: requests.Session) -> None:
    reg = OciRegistry(http, "127.0.0.1:9", insecure=True, timeout=2)
    with pytest.raises(WorldError) as info:
        reg.resolve("popcon/backend", ["1"])
    assert (
        str(info.value)
        == "registry 127.0.0.1:9: cannot connect to http://127.0.0.1:9: is the registry running?"
    )


def test_resolve_digests_one_resolve_per_repository_and_pinned_without_call(
    sandbox,
    http: requests.Session,
    test_image: PushedImage,  # type: ignore[no-untyped-def]
) -> None:
    calls: list[tuple[str, tuple[str, ...]]] = []
    oci = OciRegistry(http, sandbox.registry, insecure=True)

    class Recording:
        def resolve(self, repository: str, tags: object) -> dict[str, str]:
            calls.append((repository, tuple(tags)))  # type: ignore[arg-type]
            return oci.resolve(repository, tags)  # type: ignore[arg-type]

    def resolver_for(ref: ImageSpec) -> Resolver:
        return Recording()

    pinned = "sha256:" + "ab" * 32
    refs = [
        ImageSpec("a", sandbox.registry, test_image.repository, tag="1"),
        ImageSpec("b", sandbox.registry, test_image.repository, tag="2"),
        ImageSpec("c", sandbox.registry, test_image.repository, tag="missing"),
        ImageSpec("d", sandbox.registry, "other/repo", digest=pinned),
    ]
    result = resolve_digests(refs, resolver_for)
    assert result == {
        refs[0].key: test_image.digests["1"],
        refs[1].key: test_image.digests["2"],
        refs[3].key: pinned,
    }
    assert calls == [(test_image.repository, ("1", "2", "missing"))]


# ---- anonymous Bearer token flow, against a tiny registry in a thread ----------


class TokenRegistry(BaseHTTPRequestHandler):
    token = "tok-123"
    digest = "sha256:" + "cd" * 32

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/token?"):
            assert "scope=repository%3Alib%2Fapp%3Apull" in self.path
            body = json.dumps({"token": self.token}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.end_headers()

    def do_HEAD(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            host = self.headers["Host"]
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate",
                f'Bearer realm="http://{host}/token",service="test",scope="repository:lib/app:pull"',
            )
            self.end_headers()
            return
        self.send_response(200 if self.path.endswith("/manifests/1") else 404)
        if self.path.endswith("/manifests/1"):
            self.send_header("Docker-Content-Digest", self.digest)
        self.end_headers()


def test_oci_anonymous_bearer_token(http: requests.Session) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        reg = OciRegistry(http, f"127.0.0.1:{server.server_port}", insecure=True)
        assert reg.resolve("lib/app", ["1", "2"]) == {"1": TokenRegistry.digest}
    finally:
        server.shutdown()
        server.server_close()


# ---- ECR (moto) -----------------------------------------------------------------


def manifest(layer: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": "sha256:" + "0" * 64,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1,
                    "digest": "sha256:" + layer * 64,
                }
            ],
        }
    )


@pytest.fixture()
def ecr_repo(clients: AwsClients) -> Iterator[tuple[str, dict[str, str]]]:
    name = f"test-{uid()}/app"
    clients.ecr.create_repository(repositoryName=name)
    digests = {}
    for tag, layer in (("1.0", "1"), ("2.0", "2")):
        image = clients.ecr.put_image(repositoryName=name, imageManifest=manifest(layer), imageTag=tag)
        digests[tag] = image["image"]["imageId"]["imageDigest"]
    yield name, digests
    clients.ecr.delete_repository(repositoryName=name, force=True)


def test_ecr_one_describe_images_per_repository(
    clients: AwsClients, ecr_repo: tuple[str, dict[str, str]]
) -> None:
    name, digests = ecr_repo
    assert digests["1.0"] != digests["2.0"]
    counter = CallCounter().attach(clients.ecr)
    assert EcrRegistry(clients.ecr).resolve(name, ["1.0", "2.0"]) == digests
    assert counter.total() == 1
    assert counter.count(operation="DescribeImages") == 1


def test_ecr_missing_tag_is_absent(clients: AwsClients, ecr_repo: tuple[str, dict[str, str]]) -> None:
    name, digests = ecr_repo
    counter = CallCounter().attach(clients.ecr)
    assert EcrRegistry(clients.ecr).resolve(name, ["1.0", "9.9"]) == {"1.0": digests["1.0"]}
    assert counter.count(operation="DescribeImages") == 2  # the batch fails as a whole, then one listing


def test_ecr_missing_repository_is_absent(clients: AwsClients) -> None:
    assert EcrRegistry(clients.ecr).resolve(f"test-{uid()}/none", ["1"]) == {}


def test_ecr_login_returns_masked_credentials(clients: AwsClients) -> None:
    auth = EcrRegistry(clients.ecr).login()
    assert auth.username == "AWS"
    assert auth.server.startswith("https://")
    assert auth.password.reveal() and auth.password.reveal() not in repr(auth)
    assert auth.docker_auth_config()["password"] == auth.password.reveal()


def test_cached_logins_log_in_once_per_registry(clients: AwsClients) -> None:
    ecr = EcrRegistry(clients.ecr)
    counter = CallCounter().attach(clients.ecr)
    auth_for = cached_logins({"123456789012.dkr.ecr.us-east-1.amazonaws.com": ecr.login})
    first = auth_for("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    assert first is not None and auth_for("123456789012.dkr.ecr.us-east-1.amazonaws.com") is first
    assert auth_for("127.0.0.1:5000") is None
    assert counter.count(operation="GetAuthorizationToken") == 1
