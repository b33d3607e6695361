"""reconciler image-update: the newest tag each policy allows, committed through set-image; never back, never
over a rollback commit or a pin; two updaters racing to one branch; faults leave nothing committed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from drivers.worldkit import uid

from imageupdate.gitenv import Clone, cli, cli_command, clone, git, images_text, make_remote, mirror_hook
from imageupdate.registrykit import push_tags

pytestmark = pytest.mark.world

SEMVER = '{semver: ">=2.0.0 <3"}'
TS = "^main-[a-f0-9]+-(?P<ts>[0-9]+)$"
NUMERICAL = "{numerical: asc, filterTags: {pattern: '" + TS + "', extract: '$ts'}, pinDigest: true}"


@dataclass(frozen=True)
class World:
    remote: Path
    a: Clone
    repo: str
    tmp: Path
    frontend: dict[str, str]  # tag -> digest


def make_world(sandbox, tmp: Path, backend: str = "2.0.0", fpolicy: str = "") -> World:  # type: ignore[no-untyped-def]
    repo = f"test-{uid()}"
    frontend = push_tags(sandbox.registry, f"{repo}/frontend", ["main-abc-5", "main-def-12", "main-0a1-9", "latest"])
    push_tags(sandbox.registry, f"{repo}/backend", ["2.0.0", "2.1.0", "2.2.0", "3.0.0", "2.3.0-rc.1"])
    envs = {n: images_text(n, repo, "main-abc-5", backend, SEMVER, fpolicy) for n in ("dev", "prod")}
    remote = make_remote(tmp, sandbox.registry, envs)
    return World(remote, clone(tmp, remote, "a"), repo, tmp, frontend)


@pytest.fixture()
def world(sandbox, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    return make_world(sandbox, tmp_path)


def test_commits_the_newest_the_policy_allows(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before, head = world.a.images("dev"), world.a.head()
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0, err
    assert git(world.a.path, "rev-parse", "HEAD~1") == head
    assert git(world.a.path, "log", "-1", "--format=%B") == (
        "Update dev: backend 2.2.0\n\n"
        "backend: 2.2.0 is the newest tag the policy allows (semver >=2.0.0 <3)\n\n"
        "Set-Image: backend 2.2.0\nImage-Update: reconciler image-update"
    )
    assert world.a.images("dev") == before.replace(b'tag: "2.0.0"', b'tag: "2.2.0"')
    assert git(world.a.path, "diff", "--name-only", "HEAD~1") == "environments/dev/images.yaml"
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0 and "stays 2.2.0" in err and "nothing to commit" in err
    assert git(world.a.path, "rev-parse", "HEAD~1") == head


def test_numerical_over_filtered_tags_pins_the_digest(sandbox, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    world = make_world(sandbox, tmp_path, fpolicy=NUMERICAL)
    before = world.a.images("dev")
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--push")
    assert code == 0 and "pushed to main" in err, err
    digest = world.frontend["main-def-12"]
    assert world.a.images("dev") == before.replace(
        b'tag: "main-abc-5",', f'tag: "main-def-12", digest: "{digest}",'.encode()
    ).replace(b'tag: "2.0.0"', b'tag: "2.2.0"')
    assert git(world.remote, "rev-parse", "main") == world.a.head()
    code, err = cli(capsys, world.a, "validate", "environments/dev")
    assert code == 0, err


def test_never_downgrades(sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    world = make_world(sandbox, tmp_path, backend="3.0.0")
    head = world.a.head()
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0 and "3.0.0 is newer than 2.2.0" in err and "never downgraded" in err, err
    assert world.a.head() == head


def test_a_rollback_commit_holds_the_image_until_set_again(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, world.a, "image-update", "environments/dev")[0] == 0
    code, err = cli(capsys, world.a, "rollback", "environments/dev", "--to", "HEAD~1")
    assert code == 0, err
    head = world.a.head()
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0 and f"backend: held at 2.0.0 by rollback commit {head[:12]}" in err, err
    assert world.a.head() == head
    assert cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--commit")[0] == 0
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0 and "backend: 2.1.0 -> 2.2.0" in err
    assert b'tag: "2.2.0"' in world.a.images("dev") and git(world.a.path, "rev-parse", "HEAD~2") == head


def test_a_pin_holds_every_image(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    head = world.a.head()
    assert cli(capsys, world.a, "rollback", "environments/dev", "--pin", "HEAD")[0] == 0
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 0 and f"dev is pinned to {head[:12]}" in err and world.a.head() == head, err
    assert cli(capsys, world.a, "unpin", "environments/dev")[0] == 0
    assert cli(capsys, world.a, "image-update", "environments/dev")[0] == 0 and world.a.head() != head


def test_two_updaters_one_branch_the_second_rebuilds(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """B pushes its update of prod between A's fetch and A's push: A's push is refused (not a fast-forward),
    A builds its commit again on B's and pushes; nothing is forced, both updates are on main."""
    b = clone(world.tmp, world.remote, "b")
    marker = mirror_hook(world.a, world.remote, cli_command(b, "image-update", "environments/prod", "--push"))
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--push")
    assert code == 0 and marker.exists() and "built again on its new head" in err, err
    log = git(world.remote, "log", "--format=%s", "main").splitlines()
    assert log == ["Update dev: backend 2.2.0", "Update prod: backend 2.2.0", "environments"]
    for env in ("dev", "prod"):
        assert 'tag: "2.2.0"' in git(world.remote, "show", f"main:environments/{env}/images.yaml")


def test_two_updaters_same_change_the_second_has_nothing_to_do(world: World, capsys) -> None:  # type: ignore[no-untyped-def]
    b = clone(world.tmp, world.remote, "b")
    mirror_hook(world.a, world.remote, cli_command(b, "image-update", "environments/dev", "--push"))
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--push")
    assert code == 0 and "nothing to commit" in err and "the branch has 2.2.0" in err, err
    assert git(world.remote, "log", "--format=%s", "main").splitlines() == ["Update dev: backend 2.2.0", "environments"]


def test_faults_leave_nothing_committed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    head, images = world.a.head(), world.a.env("dev") / "images.yaml"
    original = images.read_text()
    images.write_text(original.replace(">=2.0.0 <3", ">=2.0.0 <<3"))
    code, err = cli(capsys, world.a, "image-update", "environments/dev")
    assert code == 1 and "images.yaml:9: spec.images.backend.policy: '>=2.0.0 <<3' is not a semver range" in err, err
    images.write_text(original.replace(f"{world.repo}/backend", f"{world.repo}/missing"))
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--dry-run")
    assert code == 1 and f"repository {world.repo}/missing not found (image backend)" in err, err
    images.write_text(original)
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--registry", "http://127.0.0.1:9")
    assert code == 1 and "registry 127.0.0.1:9: cannot connect" in err, err
    (world.a.env("dev") / "environment.yaml").write_text((world.a.env("dev") / "environment.yaml").read_text() + "#\n")
    code, err = cli(capsys, world.a, "image-update", "environments/dev", "--push")
    assert code == 1 and "uncommitted changes" in err, err
    assert world.a.head() == head and git(world.remote, "rev-parse", "main") == head


def test_the_loop_updates_images_before_each_tick(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """``reconciler run --image-update``: the policies at the branch head, pushed as one commit, then the tick
    deploys that commit (plan mode only says what the policies pick)."""
    head = git(world.remote, "rev-parse", "main")
    run = ["run", "--repo", str(world.remote), "--path", "environments/dev", "--once", "--image-update"]
    code, err = cli(capsys, world.a, *run, "--mode", "plan")
    assert "image update: backend: 2.0.0 -> 2.2.0" in err and "plan mode: nothing pushed" in err, err
    assert git(world.remote, "rev-parse", "main") == head
    code, err = cli(capsys, world.a, *run)
    assert code == 0 and "image update: dev: backend 2.2.0: pushed" in err, err
    assert git(world.remote, "rev-parse", "main~1") == head
    assert git(world.remote, "log", "-1", "--format=%an <%ae>%n%B", "main").startswith("reconciler <reconciler@")
    assert 'tag: "2.2.0"' in git(world.remote, "show", "main:environments/dev/images.yaml")
    assert "'Update dev: backend 2.2.0'" in err  # the tick deployed the commit it pushed
