"""The sandbox's image registry: the daemon, its HTTP API, and publishing the demo images. Does I/O.

The registry is Debian's docker-registry (Distribution 2.8) serving plain
HTTP on loopback, its storage in the state dir (kept by ``down``).
:func:`ensure_registry` uses one that answers on the port, else starts it.
:class:`RegistryClient` speaks the Docker Registry v2 API over plain HTTP,
and :func:`publish` pushes only the blobs and manifests of the built images
(:mod:`.images`) that are missing or differ.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from reconciler.core.errors import ReconcilerError, WorldError
from reconciler.sandbox import processes
from reconciler.sandbox.images import MANIFEST_TYPE, Blob, BuiltImage
from reconciler.sandbox.layout import HOST
from reconciler.sandbox.processes import Clock, Daemon, Service

REGISTRY_CONFIG = """\
# Written by the reconciler sandbox.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


def registry_answers(port: int) -> bool:
    got = processes.http_get(f"http://{HOST}:{port}/v2/")
    return got is not None and got[0] == 200 and "docker-distribution-api-version" in got[1]


DAEMON = Daemon("registry", "registry", "a Docker registry", "registry", registry_answers)


def ensure_registry(state_dir: Path, port: int, clock: Clock, timeout: float = 15.0) -> Service:
    address = f"{HOST}:{port}"
    found = DAEMON.running(state_dir, port, address)
    if found is not None:
        return found
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise ReconcilerError(
            "docker-registry not found; install the Debian package docker-registry (make install)"
        )
    root = state_dir / "registry"
    (root / "data").mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=root / "data", host=HOST, port=port))
    return DAEMON.start(state_dir, port, address, [binary, "serve", str(config)], clock, timeout)


class RegistryClient:
    """Minimal Docker Registry v2 client over plain http (loopback registries only)."""

    def __init__(self, registry: str, timeout: float = 30.0) -> None:
        self.registry = registry
        self.base = f"http://{registry}"
        self.timeout = timeout

    def _request(
        self, method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        full = url if url.startswith("http") else self.base + url
        req = urllib.request.Request(full, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                resp.read()
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as e:
            e.read()
            return e.code, {k.lower(): v for k, v in e.headers.items()}
        except (urllib.error.URLError, OSError) as e:
            raise WorldError(f"registry {self.registry}", f"unreachable: {e}") from None

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        status, headers = self._request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPE}
        )
        if status == 404:
            return None
        if status != 200:
            raise WorldError(f"registry {self.registry}", f"HEAD manifest {repository}:{reference}: {status}")
        return headers.get("docker-content-digest")

    def has_blob(self, repository: str, digest: str) -> bool:
        status, _ = self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return status == 200

    def push_blob(self, repository: str, blob: Blob) -> None:
        status, headers = self._request("POST", f"/v2/{repository}/blobs/uploads/", data=b"")
        location = headers.get("location")
        if status != 202 or not location:
            raise WorldError(f"registry {self.registry}", f"cannot start upload to {repository}: {status}")
        sep = "&" if "?" in location else "?"
        status, _ = self._request(
            "PUT",
            f"{location}{sep}digest={blob.digest}",
            data=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if status != 201:
            raise WorldError(
                f"registry {self.registry}", f"upload of {blob.digest} to {repository}: {status}"
            )

    def push_manifest(self, repository: str, tag: str, manifest: bytes) -> None:
        status, _ = self._request(
            "PUT", f"/v2/{repository}/manifests/{tag}", data=manifest, headers={"Content-Type": MANIFEST_TYPE}
        )
        if status != 201:
            raise WorldError(f"registry {self.registry}", f"push of manifest {repository}:{tag}: {status}")


def publish(
    built: Iterable[BuiltImage], registry: str, on_event: Callable[[str], None]
) -> tuple[dict[str, str], list[str]]:
    """Make the registry serve every built image under its tag.

    Returns (``repository:tag`` -> digest for all images, the refs pushed now).
    An image whose tag already resolves to the expected digest is left alone.
    """
    client = RegistryClient(registry)
    digests: dict[str, str] = {}
    pushed: list[str] = []
    for b in built:
        repo, tag = b.image.repository, b.image.tag
        digests[b.image.ref] = b.digest
        current = client.manifest_digest(repo, tag)
        if current == b.digest:
            continue
        for blob in (*b.layers, b.config):
            if not client.has_blob(repo, blob.digest):
                client.push_blob(repo, blob)
        client.push_manifest(repo, tag, b.manifest)
        after = client.manifest_digest(repo, tag)
        if after != b.digest:
            raise WorldError(
                f"registry {registry}", f"{b.image.ref} resolves to {after} after push, expected {b.digest}"
            )
        verb = "pushed" if current is None else f"re-pushed (tag pointed at {current[:19]})"
        on_event(f"image {registry}/{b.image.ref} {verb}: {b.digest[:19]}")
        pushed.append(b.image.ref)
    if not pushed:
        on_event(f"images: all {len(digests)} demo images present in {registry}")
    return digests, pushed
