"""Tags for the image-update tests: manifests pushed straight to the sandbox's registry (HTTP) and to moto's
ECR (PutImage), no image build needed. Each manifest is tiny and distinct, so each tag has its own digest."""

from __future__ import annotations

import contextlib
import hashlib
import json

import requests

from reconciler.drivers.aws.clients import AwsClients

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _manifest(config_digest: str, size: int, tag: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": size},
            "layers": [],
            "annotations": {"org.opencontainers.image.version": tag},
        },
        sort_keys=True,
    ).encode()


def push_tags(registry: str, repository: str, tags: list[str]) -> dict[str, str]:
    """Push a manifest for each tag to the plain-http registry at ``registry``; tag -> digest."""
    base = f"http://{registry}/v2/{repository}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    blob = config.encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with requests.Session() as http:
        location = http.post(f"{base}/blobs/uploads/", timeout=10).headers["Location"]
        sep = "&" if "?" in location else "?"
        http.put(f"{location}{sep}digest={digest}", data=blob, timeout=10).raise_for_status()
        found: dict[str, str] = {}
        for tag in tags:
            body = _manifest(digest, len(blob), tag)
            resp = http.put(f"{base}/manifests/{tag}", data=body, headers={"Content-Type": OCI_MANIFEST}, timeout=10)
            resp.raise_for_status()
            found[tag] = "sha256:" + hashlib.sha256(body).hexdigest()
    return found


def put_ecr_tags(clients: AwsClients, repository: str, tags: list[str]) -> dict[str, str]:
    """Create ``repository`` in moto's ECR (if needed) with a distinct image for each tag; tag -> digest."""
    with contextlib.suppress(clients.ecr.exceptions.RepositoryAlreadyExistsException):
        clients.ecr.create_repository(repositoryName=repository)
    found: dict[str, str] = {}
    for tag in tags:
        body = _manifest("sha256:" + "0" * 64, 2, tag).decode()
        image = clients.ecr.put_image(repositoryName=repository, imageManifest=body, imageTag=tag)["image"]
        found[tag] = image["imageId"]["imageDigest"]
    return found
