"""The container image of the loop: the repository's Dockerfile built on the real engine from a
base made from this machine's Python (tests/imagebase.py; nothing is pulled), run as a non-root
user with the Docker socket and the state directory as volumes: it validates an environment
(Compose's own check inside the image) and runs one plan-only tick of the loop against the
sandbox, its log in JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from imagebase import build_base

from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world
REPO = Path(__file__).resolve().parents[1]
SOCKET = "/var/run/docker.sock"


def docker_run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env={**os.environ, "DOCKER_HOST": f"unix://{SOCKET}"})  # fmt: skip


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    base = build_base()
    tag = f"reconciler-test/loop:{uuid.uuid4().hex[:8]}"
    api = docker.APIClient(base_url=f"unix://{SOCKET}")
    log = []
    for chunk in api.build(path=str(REPO), tag=tag, rm=True, forcerm=True, decode=True, buildargs={
            "BASE": base, "APT_PACKAGES": "", "PIP_OPTIONS": "--no-index"}):  # fmt: skip
        log.append(chunk.get("stream") or chunk.get("error") or "")
        assert "error" not in chunk, "".join(log)
    yield tag
    api.remove_image(tag, force=True)
    api.close()


def test_the_image_runs_as_a_non_root_user_with_its_state_volume(image: str) -> None:
    config = docker.APIClient(base_url=f"unix://{SOCKET}").inspect_image(image)["Config"]
    assert config["User"] == "10001:10001" and "/var/lib/reconciler" in config["Volumes"]
    assert config["Entrypoint"] == ["reconciler"]
    who = docker_run("--entrypoint", "id", image)
    assert who.returncode == 0 and who.stdout.startswith("uid=10001"), who.stderr
    helped = docker_run(image)
    assert helped.returncode == 0 and "GitOps reconciler" in helped.stdout, helped.stderr


def test_the_image_validates_an_environment_with_compose_inside(image: str) -> None:
    checked = docker_run("-v", f"{REPO / 'environments' / 'dev'}:/env:ro", image, "validate", "/env")
    assert checked.returncode == 0, checked.stderr
    assert "valid — environment dev" in checked.stdout and "Compose v2 is not installed" not in checked.stdout


def test_one_plan_only_tick_of_the_loop_in_the_container(image: str, sandbox: SandboxInfo, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "environments" / "dev", repo / "environments" / "dev")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q",
                    "-m", "dev"], check=True)  # fmt: skip
    subprocess.run(["chown", "-R", "10001:10001", str(repo)], check=True)  # the image's user owns what it reads
    volume = f"reconciler-test-state-{uuid.uuid4().hex[:8]}"
    group = str(os.stat(SOCKET).st_gid)
    try:
        ran = docker_run("--network", "host", "-v", f"{SOCKET}:{SOCKET}", "--group-add", group,
                         "-v", f"{volume}:/var/lib/reconciler", "-v", f"{repo}:/repo:ro", image,
                         "run", "--once", "--mode", "plan", "--repo", "/repo", "--path", "environments/dev",
                         "--aws-endpoint-url", sandbox.moto_url)  # fmt: skip
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)
    assert ran.returncode in (0, 2), ran.stderr  # 2: plan mode with changes
    records = [json.loads(line) for line in ran.stderr.splitlines()]  # no terminal: JSON lines
    ticks = [r["message"] for r in records if r["event"] == "Message" and r["message"].startswith("tick 1")]
    assert ticks and (" planned " in ticks[0] or " no-change " in ticks[0]), ran.stderr
