"""examples/without-aws: valid (Compose agrees, offline), and its images resolve to the registries
Docker would pull them from, with the credentials only where the spec gives them."""

from __future__ import annotations

from pathlib import Path

from reconciler import app
from reconciler.spec.desired import build_desired, image_registries
from reconciler.spec.loader import load_environment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "without-aws"


def test_the_example_is_valid(tmp_path: Path) -> None:
    assert "valid — environment home, 0 parameter(s), 3 image(s)" in app.validate(EXAMPLE, tmp_path)


def test_its_images_resolve_as_docker_reads_them() -> None:
    loaded = load_environment(EXAMPLE)
    assert loaded.environment.spec.aws is None
    env = {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_TOKEN": "dckr_pat_x"}
    registries = image_registries(loaded, env.get)
    assert {n: (r.host, r.api_host, r.username) for n, r in registries.items()} == {
        "web": ("docker.io", "registry-1.docker.io", "me"),
        "cache": ("docker.io", "registry-1.docker.io", "me"),
        "whoami": ("ghcr.io", "ghcr.io", None),
    }
    images = {i.name: i.key for i in build_desired(loaded, env.get).images}
    assert images == {
        "web": "docker.io/library/nginx:1.27",
        "cache": "docker.io/library/redis:7.4",
        "whoami": "ghcr.io/traefik/whoami:v1.10",
    }
