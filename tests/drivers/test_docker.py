"""observe/docker and drivers/docker against the real engine (containers made by real Compose)."""

from __future__ import annotations

import gc
import itertools
from pathlib import Path

import docker
import pytest

from drivers.worldkit import PushedImage, remove_image_refs
from reconciler.core.errors import WorldError
from reconciler.core.model import COMPOSE_PROJECT, OWNER_KEY
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker.client import DockerCallCounter, connect
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.waits import ServiceFailed
from reconciler.observe.stacks import normalize_reference, observe_docker, parse_health

pytestmark = pytest.mark.world

COMPOSE = """
services:
  good:
    image: {image}
    labels: {{"{owner_key}": "me"}}
    healthcheck: {{test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"],
                   interval: 1s, timeout: 2s, retries: 2}}
  bad:
    image: {image}
    labels: {{"{owner_key}": "someone-else"}}
    healthcheck: {{test: ["CMD", "/bin/sh", "-c", "echo 'db unreachable: s3cr3t-token'; exit 1"],
                   interval: 1s, timeout: 2s, retries: 1}}
  slow:
    image: {image}
    healthcheck: {{test: ["CMD", "/bin/true"], interval: 1h}}
  plain:
    image: {image}
  job:
    image: {image}
    command: ["/bin/sh", "-c", "exit 0"]
  failing-job:
    image: {image}
    command: ["/bin/sh", "-c", "echo boom-s3cr3t-token; exit 3"]
volumes:
  data: {{}}
"""


class Ticking:
    """A clock that advances one second per reading; sleep really waits (the engine is real)."""

    def __init__(self) -> None:
        self.ticks = itertools.count()

    def __call__(self) -> float:
        return float(next(self.ticks))


@pytest.fixture()
def stack(
    tmp_path: Path,
    project: str,
    compose: ComposeRunner,
    docker_api: docker.APIClient,
    test_image: PushedImage,
) -> tuple[str, Path, str]:
    image = test_image.pinned("1")
    DockerEngine(docker_api).pull(image)
    file = tmp_path / "docker-compose.yml"
    file.write_text(COMPOSE.format(image=image, owner_key=OWNER_KEY))
    for service in ("good", "bad", "slow", "plain", "job", "failing-job"):
        compose.up(project, tmp_path, [file], service, environment={})
    return project, file, image


def test_observe_uses_one_call_each_and_parses_health(
    stack: tuple[str, Path, str], docker_api: docker.APIClient
) -> None:
    project, _, image = stack
    engine = DockerEngine(docker_api)
    engine.wait_healthy(project, "good", timeout=30, interval=0.5)
    with pytest.raises(ServiceFailed):
        engine.wait_healthy(project, "bad", timeout=30, interval=0.5)
    engine.wait_completed(project, "job", timeout=30, interval=0.5)

    counter = DockerCallCounter().attach(docker_api)
    seen = observe_docker(docker_api, [image, image.replace("@sha256:", "@sha256:0")], projects=[project])
    assert counter.count("GET", "/containers/json") == 1
    assert counter.count("GET", "/networks") == 1
    assert counter.count("GET", "/volumes") == 1
    assert counter.count("GET", "/images/json") == 1
    assert counter.total() == 4
    by_service = {c.service: c for c in seen.containers}
    assert set(by_service) == {"good", "bad", "slow", "plain", "job", "failing-job"}
    assert by_service["good"].health == "healthy" and by_service["good"].state == "running"
    assert by_service["bad"].health == "unhealthy"
    assert by_service["slow"].health == "starting"
    assert by_service["plain"].health is None
    assert by_service["job"].state == "exited"
    assert by_service["good"].owner == "me" and by_service["good"].project == project
    assert by_service["good"].labels[COMPOSE_PROJECT] == project
    assert by_service["good"].image == image
    assert [(n.project, n.key) for n in seen.networks] == [(project, "default")]
    assert seen.networks[0].name == f"{project}_default"
    assert seen.volumes == ()  # compose creates a named volume only when a service mounts it
    assert seen.local_images == frozenset({image})


def test_parse_health_and_references() -> None:
    assert parse_health("Up 6 minutes (healthy)") == "healthy"
    assert parse_health("Up 2 seconds (health: starting)") == "starting"
    assert parse_health("Up 1 minute (unhealthy)") == "unhealthy"
    assert parse_health("Exited (0) 3 seconds ago") is None
    assert normalize_reference("busybox@sha256:1") == "docker.io/library/busybox@sha256:1"
    assert normalize_reference("me/app@sha256:1") == "docker.io/me/app@sha256:1"
    assert normalize_reference("127.0.0.1:5000/a/b@sha256:1") == "127.0.0.1:5000/a/b@sha256:1"


def test_wait_reports_unhealthy_output_masked(
    stack: tuple[str, Path, str], docker_api: docker.APIClient
) -> None:
    project = stack[0]
    engine = DockerEngine(docker_api)
    with pytest.raises(ServiceFailed) as info:
        engine.wait_healthy(project, "bad", timeout=30, interval=0.5, secrets={"s3cr3t-token"})
    message = str(info.value)
    assert message.startswith(
        f"service {project}/bad: is unhealthy; last output: db unreachable: (sensitive)"
    )
    assert "s3cr3t" not in message


def test_wait_times_out_and_rejects_missing_healthchecks(
    stack: tuple[str, Path, str], docker_api: docker.APIClient
) -> None:
    project = stack[0]
    engine = DockerEngine(docker_api, sleep=lambda _: None, clock=Ticking())
    with pytest.raises(ServiceFailed, match=r"slow: not healthy after 5s"):
        engine.wait_healthy(project, "slow", timeout=5)
    with pytest.raises(ServiceFailed, match="has no healthcheck"):
        engine.wait_healthy(project, "plain", timeout=5)
    with pytest.raises(ServiceFailed, match="has no container"):
        engine.wait_healthy(project, "nothing", timeout=5)


def test_wait_completed_reports_exit_code_and_masked_logs(
    stack: tuple[str, Path, str], docker_api: docker.APIClient
) -> None:
    project = stack[0]
    engine = DockerEngine(docker_api)
    with pytest.raises(ServiceFailed) as info:
        engine.wait_completed(project, "failing-job", timeout=30, interval=0.5, secrets={"s3cr3t-token"})
    assert "exited with code 3" in str(info.value) and "boom-(sensitive)" in str(info.value)


def test_remove_containers_checks_owner_and_is_repeatable(
    stack: tuple[str, Path, str], docker_api: docker.APIClient
) -> None:
    project = stack[0]
    engine = DockerEngine(docker_api)
    good = [c["Id"] for c in engine.service_containers(project, "good")]
    bad = [c["Id"] for c in engine.service_containers(project, "bad")]
    with pytest.raises(WorldError, match="not removed: its owner label is 'someone-else'"):
        engine.remove_containers(bad, expected_owner="me")
    assert engine.inspect(bad[0]) is not None
    assert engine.remove_containers(good, expected_owner="me", stop_timeout=1) == 1
    assert engine.inspect(good[0]) is None
    assert engine.remove_containers(good, expected_owner="me") == 0  # gone = done


def test_network_and_volume_checks(stack: tuple[str, Path, str], docker_api: docker.APIClient) -> None:
    project = stack[0]
    engine = DockerEngine(docker_api)
    assert engine.network_exists(project, "default")
    assert not engine.network_exists(project, "backend")
    assert not engine.volume_exists(project, "data")


def test_pull_by_digest_and_missing_image(
    sandbox,
    docker_api: docker.APIClient,
    test_image: PushedImage,  # type: ignore[no-untyped-def]
) -> None:
    engine = DockerEngine(docker_api)
    image = test_image.pinned("2")
    remove_image_refs(docker_api, test_image)
    assert engine.pull(image) is True
    assert engine.image_present(image)
    counter = DockerCallCounter().attach(docker_api)
    assert engine.pull(image) is False  # present: one local inspect, no registry traffic
    assert counter.total() == 1
    missing = f"{sandbox.registry}/{test_image.repository}@sha256:" + "0" * 64
    with pytest.raises(WorldError) as info:
        engine.pull(missing)
    assert str(info.value).startswith(f"image {missing}: ")
    assert "manifest unknown" in str(info.value) or "not found" in str(info.value)


# docker-py leaks the socket of a failed unix connect (gc closes it with a ResourceWarning)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_engine_is_a_world_error(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/no.sock"
    with pytest.raises(WorldError) as info:
        connect(host)
    assert str(info.value) == f"docker {host}: cannot connect to the Docker engine: is dockerd running?"
    api = docker.APIClient(base_url=host, version="1.41")
    with pytest.raises(WorldError) as info:
        observe_docker(api)
    assert str(info.value) == f"docker {host}: cannot connect to the Docker engine: is dockerd running?"
    api.close()
    del info
    gc.collect()
