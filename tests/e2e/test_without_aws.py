"""GitOps without AWS, end to end: an environment with no ``aws`` (no SSM, no ECR, the state store in
SQLite) deployed from a real git repository by the loop (`reconciler run --once`, the real CLI in a
subprocess) to the sandbox's engine, its images pulled from the sandbox's hub (the registry behind a
Docker Hub-like token service): a private image with credentials from environment variables, a
public one anonymously. Then a tag bump is deployed and `rollback` brings the first revision back.
No AWS client may be built: AWS_PROFILE names a profile that does not exist (a boto3 session would
fail at once) and every AWS endpoint given points at a closed port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import docker
import pytest
from drivers.worldkit import PushedImage, build_and_push, delete_from_registry, remove_image_refs, remove_project, uid

from e2e.gitops import git, replace_in
from reconciler import app
from reconciler.app.settings import Overrides
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.sandbox.layout import HUB_PASSWORD, HUB_USERNAME
from reconciler.state import Result

pytestmark = pytest.mark.world

PATH = "environments/home"
CLOSED = "http://127.0.0.1:9"  # nothing listens there: any AWS call would fail
NO_AWS = {
    "AWS_PROFILE": "reconciler-no-such-profile",  # boto3.Session() raises ProfileNotFound
    "AWS_ENDPOINT_URL": CLOSED,
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
    "HUB_USER": HUB_USERNAME,
    "HUB_TOKEN": HUB_PASSWORD,
    "NO_COLOR": "1",
}

ENVIRONMENT = """\
# An environment without AWS: no aws, no parameterPrefix, no ParameterSet; the state store is SQLite.
apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata:
  name: {name}
spec:
  docker: {{host: "{docker_host}"}}
  registry:
    url: {hub}
    insecure: true
    credentials: {{usernameFromEnv: HUB_USER, passwordFromEnv: HUB_TOKEN}}
  ownership: {name}
"""
IMAGES = """\
apiVersion: reconciler.dev/v1alpha1
kind: Images
metadata:
  name: images
spec:
  images:
    app: {{repository: {private}, tag: "1"}}
    # written as docker pull reads it; its own registry block has no credentials: anonymous
    web: {{image: "{hub}/{public}:1", registry: {{url: {hub}, insecure: true}}}}
"""
STACK = """\
apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata:
  name: site
spec:
  composeFile: compose.yaml
  project: {name}
  services:
    app: {{image: app}}
    web: {{image: web}}
"""
COMPOSE = """\
services:
  app:
    image: {private}:1
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
  web:
    image: {public}:1
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
    environment:
      GREETING: ${{GREETING:-hello}}
"""


@dataclass
class Home:
    name: str
    bare: Path
    clone: Path
    state_dir: Path
    private: PushedImage
    public: PushedImage
    hub: str

    @property
    def env_dir(self) -> Path:
        return self.clone / PATH

    def commit(self, message: str) -> str:
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "-q", "-m", message)
        git(self.clone, "push", "-q", "origin", "main")
        return git(self.clone, "rev-parse", "HEAD")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "AWS_"))}
        argv = [sys.executable, "-m", "reconciler.cli", *args, "--state-dir", str(self.state_dir),
                "--aws-endpoint-url", CLOSED]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
                              check=False, env={**environ, **NO_AWS})  # fmt: skip

    def tick(self) -> subprocess.CompletedProcess[str]:
        return self.cli("run", "--repo", str(self.bare), "--path", PATH, "--once", "--log-format", "text")

    def store(self) -> SqliteStateStore:
        return SqliteStateStore.in_state_dir(self.state_dir)


def running_images(api: docker.APIClient, project: str) -> dict[str, str]:
    found = api.containers(filters={"label": f"{COMPOSE_PROJECT}={project}", "status": "running"})
    return {c["Labels"][COMPOSE_SERVICE]: c["Image"] for c in found}


@pytest.fixture()
def home(sandbox, docker_api: docker.APIClient, tmp_path: Path) -> Iterator[Home]:  # type: ignore[no-untyped-def]
    private = build_and_push(docker_api, sandbox.registry, f"private/test-{uid()}/app", ("1", "2"))
    public = build_and_push(docker_api, sandbox.registry, f"test-{uid()}/web", ("1",))
    for image in (private, public):
        remove_image_refs(docker_api, image)  # the engine must pull them through the hub
    bare, clone = tmp_path / "remote.git", tmp_path / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    git(clone, "config", "user.email", "dev@example.com")
    git(clone, "config", "user.name", "Dev")
    git(clone, "checkout", "-q", "-b", "main")
    name = f"home-{uid()}"
    folder = clone / PATH
    folder.mkdir(parents=True)
    values = {"name": name, "docker_host": sandbox.docker_host, "hub": sandbox.hub,
              "private": private.repository, "public": public.repository}  # fmt: skip
    for file, template in (("environment.yaml", ENVIRONMENT), ("images.yaml", IMAGES), ("stack.yaml", STACK),
                           ("compose.yaml", COMPOSE)):  # fmt: skip
        (folder / file).write_text(template.format(**values))
    found = Home(name, bare, clone, tmp_path / "state", private, public, sandbox.hub)
    found.commit("home: app 1, web 1")
    yield found
    remove_project(docker_api, name)
    for image in (private, public):
        remove_image_refs(docker_api, PushedImage(sandbox.hub, image.repository))
        delete_from_registry(image)


def test_an_environment_without_aws_is_deployed_by_the_loop_bumped_and_rolled_back(
    home: Home, docker_api: docker.APIClient
) -> None:
    first = git(home.bare, "rev-parse", "main")
    deployed = home.tick()
    assert deployed.returncode == 0, deployed.stderr
    assert "new revision" in deployed.stderr
    pinned_1 = f"{home.hub}/{home.private.repository}@{home.private.digests['1']}"
    web = f"{home.hub}/{home.public.repository}@{home.public.digests['1']}"
    assert running_images(docker_api, home.name) == {"app": pinned_1, "web": web}

    replace_in("images.yaml", 'tag: "1"', 'tag: "2"')(home.env_dir)
    bump = home.commit("app 2")
    bumped = home.tick()
    assert bumped.returncode == 0, bumped.stderr
    pinned_2 = f"{home.hub}/{home.private.repository}@{home.private.digests['2']}"
    assert running_images(docker_api, home.name) == {"app": pinned_2, "web": web}

    rolled = home.cli("rollback", str(home.env_dir), "--to", first, "--push", "-m", "app 2 is bad")
    assert rolled.returncode == 0, rolled.stderr
    rollback = git(home.bare, "rev-parse", "main")
    assert rollback not in (first, bump)
    back = home.tick()
    assert back.returncode == 0, back.stderr
    assert running_images(docker_api, home.name) == {"app": pinned_1, "web": web}

    # status and history in SQLite, through the store and the CLI
    status = home.store().read_status(home.name)
    assert status.last_applied is not None and status.last_applied.sha == rollback
    applied = [e.revision.sha for e in home.store().history(home.name, 10)
               if e.result is Result.APPLIED and e.revision is not None]  # fmt: skip
    assert applied[:3] == [rollback, bump, first]
    shown = home.cli("history", str(home.env_dir))
    assert shown.returncode == 0 and rollback[:12] in shown.stdout, shown.stderr
    again = home.tick()  # nothing left to do
    assert again.returncode == 0 and "no-change" in again.stderr, again.stderr

    # the registry token never shows, nor is written anywhere
    for run in (deployed, bumped, rolled, back, shown, again):
        assert HUB_PASSWORD not in run.stdout + run.stderr
    for path in home.state_dir.rglob("*"):
        if path.is_file():
            assert HUB_PASSWORD.encode() not in path.read_bytes(), path


def test_wrong_registry_credentials_are_a_clear_error_naming_the_registry_and_realm(home: Home) -> None:
    environ = {**os.environ, **NO_AWS, "HUB_TOKEN": "dckr_pat_wrong-token"}
    environ = {k: v for k, v in environ.items() if not k.startswith("RECONCILER_")}
    argv = [sys.executable, "-m", "reconciler.cli", "plan", str(home.env_dir), "--state-dir", str(home.state_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
                          env=environ)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"registry {home.hub}" in done.stderr
    assert f"token service http://{home.hub}/token refused the credentials of user '{HUB_USERNAME}'" in done.stderr
    assert "Traceback" not in done.stderr and "dckr_pat_wrong-token" not in done.stdout + done.stderr

    unset = {k: v for k, v in environ.items() if k != "HUB_TOKEN"}
    missing = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                             check=False, env=unset)  # fmt: skip
    assert missing.returncode == 1
    where = "environment.yaml:11: spec.registry.credentials.passwordFromEnv"
    assert f"{where}: environment variable HUB_TOKEN is not set" in missing.stderr


def test_no_aws_client_is_built_even_with_an_aws_endpoint_given(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: a boto3 session cannot even be made, an endpoint override is given, and planning
    (the registries and the engine read) works and counts no AWS call."""

    def no_session(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a boto3 session was made for an environment without aws")

    monkeypatch.setattr(boto3, "Session", no_session)
    for key, value in NO_AWS.items():
        monkeypatch.setenv(key, value)
    overrides = Overrides(aws_endpoint_url=CLOSED, state_dir=home.state_dir)
    ctx = app.open_environment(home.env_dir, overrides, read_only=True)
    try:
        assert ctx.settings.region is None and ctx.settings.aws_endpoint_url is None
        assert ctx.world.clients.aws is None
        result = ctx.plan()
        assert {a.kind for a in result.plan.actions} >= {"create_service"}, result.plan.actions
        assert ctx.world.counters.aws.total() == 0
        assert ctx.world.counters.registry.calls[("GET", home.hub)] >= 1  # tokens from the hub's service
        store = ctx.state_store()
        assert type(store).__name__ == "SqliteStateStore"
    finally:
        ctx.close()
