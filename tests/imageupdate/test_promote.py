"""reconciler promote: the destination gets the tags the source's Images documents name, in one commit whose
body holds the destination's read-only plan with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from drivers.worldkit import uid

from imageupdate.gitenv import Clone, cli, clone, git, images_text, make_remote
from imageupdate.registrykit import push_tags

pytestmark = pytest.mark.world

STACK = """apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata: {{name: app}}
spec:
  composeFile: docker-compose.yml
  project: {project}
  services:
    api: {{image: backend}}
"""
COMPOSE = "services:\n  api:\n    image: app/backend\n"


@dataclass(frozen=True)
class World:
    remote: Path
    a: Clone
    repo: str
    docker: str
    backend: dict[str, str]  # tag -> digest


@pytest.fixture()
def world(sandbox, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    repo = f"test-{uid()}"
    push_tags(sandbox.registry, f"{repo}/frontend", ["1.0.0", "1.1.0"])
    backend = push_tags(sandbox.registry, f"{repo}/backend", ["2.0.0", "2.2.0"])
    envs = {"dev": images_text("dev", repo, "1.1.0", "2.2.0"), "prod": images_text("prod", repo, "1.0.0", "2.0.0")}
    remote = make_remote(tmp_path, sandbox.registry, envs)
    seed = clone(tmp_path, remote, "stack")
    (seed.env("prod") / "stack.yaml").write_text(STACK.format(project=f"{repo}-prod"))
    (seed.env("prod") / "docker-compose.yml").write_text(COMPOSE)
    git(seed.path, "add", "-A")
    git(seed.path, "commit", "-q", "-m", "prod runs the api")
    git(seed.path, "push", "-q", "origin", "main")
    return World(remote, clone(tmp_path, remote, "a"), repo, sandbox.docker_host, backend)


def test_promote_one_commit_with_the_destinations_plan(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before, head = world.a.images("prod"), world.a.head()
    code, err = cli(capsys, world.a, "promote", "environments/dev", "environments/prod", "--push",
                    "--docker-host", world.docker)  # fmt: skip
    assert code == 0 and "prod promoted to backend 2.2.0, frontend 1.1.0" in err, err
    assert world.a.images("prod") == before.replace(b'"2.0.0"', b'"2.2.0"').replace(b'"1.0.0"', b'"1.1.0"')
    assert git(world.a.path, "rev-parse", "HEAD~1") == head == git(world.remote, "rev-parse", "main~1")
    assert git(world.a.path, "diff", "--name-only", "HEAD~1") == "environments/prod/images.yaml"
    message = git(world.a.path, "log", "-1", "--format=%B")
    subject, plan, trailers = message.split("\n\n")
    assert subject == "Promote dev to prod: backend 2.2.0, frontend 1.1.0"
    assert trailers == "Promoted-From: dev\nSet-Image: backend 2.2.0\nSet-Image: frontend 1.1.0"
    assert plan.splitlines() == [
        "Plan of prod after this commit (read-only): Plan: 3 to add, 0 to change, 0 to replace, 0 to destroy.",
        f"  + image:default/app/backend: {world.backend['2.2.0'][:19]}… not in the engine",  # 2.2.0, promoted
        "  + network:default/app/default: not found",
        "  + service:default/app/api: not found",
    ]
    code, err = cli(capsys, world.a, "promote", "environments/dev", "environments/prod", "--commit")
    assert code == 0 and "prod already has dev's tags (backend, frontend): nothing to promote" in err


def test_promote_some_images_and_faults(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before, head = world.a.images("prod"), world.a.head()
    code, err = cli(capsys, world.a, "promote", "environments/dev", "environments/prod", "--images", "frontend",
                    "--commit", "--docker-host", world.docker)  # fmt: skip
    assert code == 0, err
    assert world.a.images("prod") == before.replace(b'"1.0.0"', b'"1.1.0"')
    assert git(world.a.path, "log", "-1", "--format=%s") == "Promote dev to prod: frontend 1.1.0"
    code, err = cli(capsys, world.a, "promote", "environments/dev", "environments/prod", "--images", "db", "--commit")
    assert code == 1 and "no image named 'db'" in err
    dev = world.a.env("dev") / "images.yaml"
    dev.write_text(dev.read_text().replace('"2.2.0"', '"2.9.9"'))
    git(world.a.path, "commit", "-qam", "dev runs a tag prod's registry lacks")
    head = world.a.head()
    code, err = cli(capsys, world.a, "promote", "environments/dev", "environments/prod", "--commit")
    assert code == 1 and f"{world.repo}/backend has no tag '2.9.9'" in err and world.a.head() == head, err


SECRET_ENVIRONMENT = """apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata: {{{{name: {{name}}}}}}
spec:
  aws: {{{{region: ap-northeast-2, endpointUrl: "{moto}"}}}}
  parameterPrefix: /{prefix}
  registry: {{{{type: oci, url: "{{registry}}", insecure: true}}}}
"""
SECRETS = """apiVersion: reconciler.dev/v1alpha1
kind: ParameterSet
metadata: {{name: secrets}}
spec:
  path: /{prefix}/prod
  parameters:
    DB_PASSWORD: {{type: SecureString, fromEnv: PROMOTE_TEST_SECRET}}
"""


def test_no_secret_in_the_commit(sandbox, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The destination's plan writes a SecureString and recreates what reads it: the commit body names
    them, never the value."""
    repo, secret = f"test-{uid()}", f"s3cret-{uid()}"
    monkeypatch.setenv("PROMOTE_TEST_SECRET", secret)
    push_tags(sandbox.registry, f"{repo}/frontend", ["1.0.0"])
    push_tags(sandbox.registry, f"{repo}/backend", ["2.0.0", "2.2.0"])
    envs = {"dev": images_text("dev", repo, "1.0.0", "2.2.0"), "prod": images_text("prod", repo, "1.0.0", "2.0.0")}
    environment = SECRET_ENVIRONMENT.format(moto=sandbox.moto_url, prefix=repo)
    remote = make_remote(tmp_path, sandbox.registry, envs, environment=environment)
    a = clone(tmp_path, remote, "a")
    stack = STACK.format(project=f"{repo}-prod").replace("  services:", "  parameterSets: [secrets]\n  services:")
    (a.env("prod") / "stack.yaml").write_text(stack)
    (a.env("prod") / "docker-compose.yml").write_text(COMPOSE + "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n")
    (a.env("prod") / "secrets.yaml").write_text(SECRETS.format(prefix=repo))
    git(a.path, "add", "-A")
    git(a.path, "commit", "-q", "-m", "prod reads a secret")
    code, err = cli(capsys, a, "promote", "environments/dev", "environments/prod", "--commit",
                    "--docker-host", sandbox.docker_host)  # fmt: skip
    assert code == 0, err
    message = git(a.path, "log", "-1", "--format=%B")
    assert f"parameter:/{repo}/prod/DB_PASSWORD" in message and "service:default/app/api" in message, message
    assert secret not in message and secret not in err
