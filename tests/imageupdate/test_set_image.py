"""reconciler set-image: the tag edited in place after a registry check, committed, pushed (fast-forward,
rebuilt once, never forced), or pushed to a new branch; every fault leaves nothing committed or pushed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from drivers.worldkit import uid

from imageupdate.gitenv import Clone, cli, cli_command, clone, git, images_text, make_remote, mirror_hook
from imageupdate.registrykit import push_tags

pytestmark = pytest.mark.world


@dataclass(frozen=True)
class World:
    remote: Path
    a: Clone
    repo: str
    tmp: Path


@pytest.fixture()
def world(sandbox, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    repo = f"test-{uid()}"
    push_tags(sandbox.registry, f"{repo}/frontend", ["1.0.0", "1.1.0"])
    push_tags(sandbox.registry, f"{repo}/backend", ["2.0.0", "2.1.0", "2.2.0", "3.0.0"])
    envs = {name: images_text(name, repo, "1.0.0", "2.0.0") for name in ("dev", "prod")}
    remote = make_remote(tmp_path, sandbox.registry, envs)
    return World(remote, clone(tmp_path, remote, "a"), repo, tmp_path)


def bumped(before: bytes, image: str, old: str, new: str) -> bytes:
    line = next(x for x in before.splitlines(keepends=True) if x.lstrip().startswith(f"{image}:".encode()))
    assert line.count(f'tag: "{old}"'.encode()) == 1
    return before.replace(line, line.replace(f'tag: "{old}"'.encode(), f'tag: "{new}"'.encode()))


def test_edit_in_place_only_the_tag(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before, head = world.a.images("dev"), world.a.head()
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0")
    assert code == 0, err
    assert world.a.images("dev") == bumped(before, "backend", "2.0.0", "2.1.0")
    assert world.a.head() == head and "not committed" in err


def test_commit_one_commit_with_its_trailer(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before, head = world.a.images("dev"), world.a.head()
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--commit")
    assert code == 0, err
    assert git(world.a.path, "rev-parse", "HEAD~1") == head
    assert git(world.a.path, "log", "-1", "--format=%B") == "Set backend to 2.1.0 in dev\n\nSet-Image: backend 2.1.0"
    assert git(world.a.path, "log", "-1", "--format=%an <%ae>") == "Dev a <a@example.com>"
    assert git(world.a.path, "diff", "--name-only", "HEAD~1", "HEAD") == "environments/dev/images.yaml"
    assert git(world.a.path, "show", "HEAD:environments/dev/images.yaml").encode() + b"\n" == bumped(
        before, "backend", "2.0.0", "2.1.0"
    )
    assert world.a.images("dev") == bumped(before, "backend", "2.0.0", "2.1.0")
    assert git(world.a.path, "status", "--porcelain") == ""  # the working tree and index follow
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--commit", "-m", "again")
    assert code == 0 and "already 2.1.0" in err and git(world.a.path, "rev-parse", "HEAD~1") == head


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backend", "9.9.9"], "popcon"),  # replaced below by the test's repository
        (["nope", "1.0.0"], "no image named 'nope' in its Images documents (images: backend, frontend)"),
        (["backend", "2.1.0", "--registry", "http://127.0.0.1:9"], "registry 127.0.0.1:9: cannot connect"),
        (["backend", "2.1.0", "--dirty"], "the working tree has uncommitted changes"),
    ],
)
def test_faults_leave_nothing_committed_or_pushed(
    world: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    if "--dirty" in args:
        args = [a for a in args if a != "--dirty"]
        with (world.a.env("dev") / "environment.yaml").open("a", encoding="utf-8") as f:
            f.write("# edited\n")
    if args[1] == "9.9.9":
        message = f"127.0.0.1:5000: {world.repo}/backend has no tag '9.9.9' (image backend); nothing was changed"
    before, head, remote_head = world.a.images("dev"), world.a.head(), git(world.remote, "rev-parse", "main")
    for mode in (["--commit"], ["--push"]):
        code, err = cli(capsys, world.a, "set-image", "environments/dev", *args, *mode)
        assert code == 1 and message in err and "Traceback" not in err, err
        assert world.a.images("dev") == before and world.a.head() == head
        assert git(world.remote, "rev-parse", "main") == remote_head


def test_push_fast_forward_and_the_local_branch_follows(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    head = world.a.head()
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "frontend", "1.1.0", "--push")
    assert code == 0 and "pushed to main" in err, err
    pushed = git(world.remote, "rev-parse", "main")
    assert git(world.remote, "rev-parse", "main~1") == head
    assert world.a.head() == pushed and git(world.a.path, "status", "--porcelain") == ""
    assert git(world.remote, "log", "-1", "--format=%B", "main").endswith("Set-Image: frontend 1.1.0")


def test_push_rebuilt_once_when_the_branch_moved(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    b = clone(world.tmp, world.remote, "b")
    mirror_hook(world.a, world.remote, cli_command(b, "set-image", "environments/prod", "backend", "2.2.0", "--push"))
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--push")
    assert code == 0 and "built again on its new head" in err, err
    log = git(world.remote, "log", "--format=%s", "main").splitlines()
    assert log == ["Set backend to 2.1.0 in dev", "Set backend to 2.2.0 in prod", "environments"]  # linear, not forced
    assert b'tag: "2.2.0"' in git(world.remote, "show", "main:environments/prod/images.yaml").encode()
    assert "`git pull` to get it here" in err  # a was not at the base the commit was rebuilt on


def test_push_refused_twice_is_an_error_and_nothing_is_forced(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    count = world.tmp / "refusals"
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho x >> '{count}'\necho 'non-fast-forward (the test refuses)' >&2\nexit 1\n")
    hook.chmod(0o755)
    remote_head = git(world.remote, "rev-parse", "main")
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--push")
    assert code == 1 and "the branch moved twice while committing" in err, err
    assert count.read_text().count("x") == 2 and git(world.remote, "rev-parse", "main") == remote_head


def test_branch_for_a_pull_request(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    main, head = git(world.remote, "rev-parse", "main"), world.a.head()
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.2.0", "--branch", "bump-backend")
    assert code == 0 and "pushed to bump-backend" in err, err
    assert git(world.remote, "rev-parse", "main") == main and world.a.head() == head
    assert git(world.remote, "rev-parse", "bump-backend~1") == main
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--branch", "bump-backend")
    assert code == 1 and "branch bump-backend already exists" in err
    code, err = cli(capsys, world.a, "set-image", "environments/dev", "backend", "2.1.0", "--branch", "a..b")
    assert code == 1 and "'a..b' is not a valid branch name" in err
    assert git(world.remote, "rev-parse", "main") == main


def test_set_image_on_ecr_checks_moto(sandbox, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An ECR registry: the tag is checked with DescribeImages (moto), then written."""
    from drivers.worldkit import aws

    from imageupdate.registrykit import put_ecr_tags
    from imageupdate.test_image_update_calls import ECR_ENVIRONMENT

    repo = f"test-{uid()}"
    put_ecr_tags(aws(sandbox.moto_url), f"{repo}/backend", ["2.0.0", "2.1.0"])
    put_ecr_tags(aws(sandbox.moto_url), f"{repo}/frontend", ["1.0.0"])
    envs = {"dev": images_text("dev", repo, "1.0.0", "2.0.0")}
    remote = make_remote(tmp_path, sandbox.moto_url, envs, environment=ECR_ENVIRONMENT)
    a = clone(tmp_path, remote, "a")
    code, err = cli(capsys, a, "set-image", "environments/dev", "backend", "2.2.0", "--commit")
    assert code == 1 and f"{repo}/backend has no tag '2.2.0'" in err and ".dkr.ecr.us-east-1.amazonaws.com" in err, err
    code, err = cli(capsys, a, "set-image", "environments/dev", "backend", "2.1.0", "--commit")
    assert code == 0 and b'tag: "2.1.0"' in a.images("dev"), err
