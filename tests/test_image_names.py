"""Image names as people write them resolve to Docker's registry host and repository (pure)."""

from __future__ import annotations

import pytest

from reconciler.core.image_names import (
    ImageName,
    ImageNameError,
    api_host,
    is_loopback_host,
    parse_image,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("nginx:1.27", ImageName("docker.io", "library/nginx", "1.27")),
        ("nginx", ImageName("docker.io", "library/nginx")),
        ("library/nginx", ImageName("docker.io", "library/nginx")),
        ("docker.io/library/nginx:1.27", ImageName("docker.io", "library/nginx", "1.27")),
        ("docker.io/nginx", ImageName("docker.io", "library/nginx")),
        ("index.docker.io/library/nginx", ImageName("docker.io", "library/nginx")),
        ("bitnami/redis:7.2", ImageName("docker.io", "bitnami/redis", "7.2")),
        ("ghcr.io/org/app:2.0", ImageName("ghcr.io", "org/app", "2.0")),
        ("ghcr.io/org/team/app", ImageName("ghcr.io", "org/team/app")),
        ("registry.example.com:5000/app", ImageName("registry.example.com:5000", "app")),
        ("registry.example.com:5000/app:1.0", ImageName("registry.example.com:5000", "app", "1.0")),
        ("localhost/app:dev", ImageName("localhost", "app", "dev")),
        ("localhost:5000/app", ImageName("localhost:5000", "app")),
        ("127.0.0.1:5001/popcon/backend:2.1.0", ImageName("127.0.0.1:5001", "popcon/backend", "2.1.0")),
        (f"nginx@{DIGEST}", ImageName("docker.io", "library/nginx", None, DIGEST)),
        (f"ghcr.io/org/app:2.0@{DIGEST}", ImageName("ghcr.io", "org/app", "2.0", DIGEST)),
    ],
)
def test_names_resolve_as_docker_reads_them(written: str, expected: ImageName) -> None:
    assert parse_image(written) == expected


def test_docker_hub_api_answers_on_registry_1() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("index.docker.io") == "registry-1.docker.io"
    assert api_host("ghcr.io") == "ghcr.io"
    assert api_host("127.0.0.1:5001") == "127.0.0.1:5001"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("Nginx:1.27", "not a valid repository path"),
        ("nginx:", "not a valid image tag"),
        ("nginx:-x", "not a valid image tag"),
        ("nginx@sha256:abc", "not a digest"),
        ("ghcr.io/", "not a valid repository path"),
        ("", "must not be empty"),
        (" nginx", "surrounding spaces"),
    ],
)
def test_bad_names_say_why(written: str, problem: str) -> None:
    with pytest.raises(ImageNameError, match=problem):
        parse_image(written)


def test_loopback_hosts() -> None:
    assert is_loopback_host("127.0.0.1:5001") and is_loopback_host("localhost") and is_loopback_host("[::1]:5000")
    assert not is_loopback_host("ghcr.io") and not is_loopback_host("10.0.0.1:5000")
