"""Helpers for tests against the real sandbox: unique names, AWS clients, test images.

Test images are built with ``docker import`` of a tiny rootfs (the host's static
busybox plus applet symlinks), tagged under ``<registry>/test-<uuid>/...`` and
pushed to the sandbox registry; nothing is pulled from the internet.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import docker
import docker.errors
import pytest
import requests

from reconciler.drivers.aws.clients import AwsClients, client_config, make_clients
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.drivers.docker.client import connect

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "wget", "sleep", "true", "false", "echo", "cat", "env", "printenv", "ls", "test")
HTTP_CMD = '["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]'
REGION = "us-east-1"
TEST_LABEL = "reconciler.test/run"


def uid(n: int = 8) -> str:
    return uuid.uuid4().hex[:n]


def aws(moto_url: str, region: str = REGION, attempts: int = 3) -> AwsClients:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    return make_clients(region, moto_url, session=session, config=client_config(attempts))


def rootfs_tar(marker: str) -> bytes:
    """A rootfs: /bin/busybox, applet symlinks, /www/health, /www/index.html and /marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "www", "tmp", "etc"):
            add_dir(d)
        add_file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        add_file("www/health", b"ok\n")
        add_file("www/index.html", f"test image {marker}\n".encode())
        add_file("marker", marker.encode())
        add_file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n")
    return buf.getvalue()


@dataclass
class PushedImage:
    registry: str
    repository: str  # test-<uuid>/app
    digests: dict[str, str] = field(default_factory=dict)  # tag -> sha256 digest in the registry

    def ref(self, tag: str) -> str:
        return f"{self.registry}/{self.repository}:{tag}"

    def pinned(self, tag: str) -> str:
        return f"{self.registry}/{self.repository}@{self.digests[tag]}"


def build_and_push(
    api: docker.APIClient, registry: str, repository: str, tags: tuple[str, ...]
) -> PushedImage:
    image = PushedImage(registry, repository)
    for tag in tags:
        ref = f"{registry}/{repository}"
        result = api.import_image_from_data(
            rootfs_tar(f"{repository}:{tag}"), repository=ref, tag=tag, changes=[f"CMD {HTTP_CMD}"]
        )
        assert "error" not in str(result).lower(), result
        digest = None
        for chunk in api.push(ref, tag=tag, stream=True, decode=True):
            assert "error" not in chunk, chunk
            aux = chunk.get("aux") or {}
            digest = aux.get("Digest", digest)
        assert digest, f"push of {ref}:{tag} reported no digest"
        image.digests[tag] = digest
    return image


def remove_image_refs(api: docker.APIClient, image: PushedImage) -> None:
    """Remove every local tag/digest reference of the test repository."""
    prefix = f"{image.registry}/{image.repository}"
    for img in api.images():
        refs = [*(img.get("RepoTags") or []), *(img.get("RepoDigests") or [])]
        for ref in refs:
            if ref.startswith(prefix + ":") or ref.startswith(prefix + "@"):
                with suppress(docker.errors.APIError):
                    api.remove_image(ref, force=True)


def delete_from_registry(image: PushedImage) -> None:
    """Delete the test manifests from the registry (best effort: needs the registry's delete enabled)."""
    with requests.Session() as http:
        for digest in set(image.digests.values()):
            with suppress(requests.RequestException):
                http.delete(f"http://{image.registry}/v2/{image.repository}/manifests/{digest}", timeout=10)


def remove_project(api: docker.APIClient, project: str) -> None:
    """Remove everything a compose project left: containers, networks, volumes."""
    label = f"com.docker.compose.project={project}"
    for c in api.containers(all=True, filters={"label": label}):
        with suppress(docker.errors.APIError):
            api.remove_container(c["Id"], force=True, v=True)
    for n in api.networks(filters={"label": label}):
        with suppress(docker.errors.APIError):
            api.remove_network(n["Id"])
    for v in api.volumes(filters={"label": label}).get("Volumes") or []:
        with suppress(docker.errors.APIError):
            api.remove_volume(v["Name"], force=True)


def delete_parameters(clients: AwsClients, prefix: str) -> None:
    names: list[str] = []
    for page in clients.ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True):
        names += [p["Name"] for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        clients.ssm.delete_parameters(Names=names[start : start + 10])


# --------------------------------------------------------------------------
# fixtures (imported by tests/drivers/conftest.py and tests/test_executor.py)
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_api(sandbox) -> Iterator[docker.APIClient]:  # type: ignore[no-untyped-def]
    api = connect(sandbox.docker_host)
    yield api
    api.close()


@pytest.fixture(scope="session")
def test_image(sandbox, docker_api: docker.APIClient) -> Iterator[PushedImage]:  # type: ignore[no-untyped-def]
    """test-<uuid>/app:1 and :2 (different digests) in the sandbox registry, not kept locally."""
    image = build_and_push(docker_api, sandbox.registry, f"test-{uid()}/app", ("1", "2"))
    remove_image_refs(docker_api, image)
    yield image
    remove_image_refs(docker_api, image)
    delete_from_registry(image)


@pytest.fixture(scope="session")
def compose(sandbox) -> ComposeRunner:  # type: ignore[no-untyped-def]
    return ComposeRunner(locate_compose(), docker_host=sandbox.docker_host)


@pytest.fixture()
def clients(sandbox) -> AwsClients:  # type: ignore[no-untyped-def]
    return aws(sandbox.moto_url)


@pytest.fixture()
def prefix(clients: AwsClients) -> Iterator[str]:
    """A unique SSM path, emptied afterwards."""
    path = f"/t-{uid()}"
    yield path
    delete_parameters(clients, path)


@pytest.fixture()
def project(docker_api: docker.APIClient) -> Iterator[str]:
    """A unique compose project name, removed (containers, networks, volumes) afterwards."""
    name = f"t{uid()}"
    yield name
    remove_project(docker_api, name)
