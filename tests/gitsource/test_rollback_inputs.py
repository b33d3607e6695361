"""``reconciler rollback --to`` restores, with the environment folder, the files outside it that the
environment read at that revision (a compose ``include`` of ``../../shared``, an ``extends`` from there):
a change in ``shared/base.yaml`` rolled back restores the old service configuration (its config
hash), other files stay as at the head. Real git repositories in temp dirs, through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitsource.gitkit import Repo, git, new_repo
from reconciler import cli
from reconciler.core.observed import ObservedState
from reconciler.drivers.git.restore import also_restored
from reconciler.drivers.git.rollback import restore_commit
from reconciler.planner.targets import service_targets
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

VALID = Path(__file__).resolve().parents[1] / "spec" / "cases" / "_valid"
DEV = "environments/dev"
CACHE = "services:\n  redis:\n    extends: {file: base.yaml, service: cache}\n"
BASE = 'services:\n  cache:\n    image: popcon/redis:7.2\n    healthcheck:\n      test: ["CMD", "true"]\n'


def hashes(env: Path) -> dict[str, str]:
    state = build_desired(load_environment(env), lambda _name: "x")
    (stack,) = state.stacks
    observed = ObservedState(image_digests={ref.key: "sha256:" + "0" * 64 for ref in state.images})
    return {name: t.config_hash for name, t in service_targets(stack, state, observed).items()}


def shared_repo(tmp_path: Path) -> Repo:
    """environments/dev whose redis comes from ``../../shared/cache.yaml``, extending ``base.yaml``."""
    repo = new_repo(tmp_path / "repo")
    env = repo.path / DEV
    shutil.copytree(VALID, env)
    compose = (env / "docker-compose.yml").read_text()
    start, end = compose.index("  redis:\n"), compose.index("\nvolumes:")
    (env / "docker-compose.yml").write_text("include:\n  - ../../shared/cache.yaml\n" + compose[:start] + compose[end:])
    repo.write("shared/cache.yaml", CACHE.encode())
    repo.write("shared/base.yaml", BASE.encode())
    repo.write("shared/notes.txt", b"not read by dev\n")
    repo.commit("dev with a shared cache")
    return repo


def rollback(capsys: pytest.CaptureFixture[str], repo: Repo, *args: str) -> tuple[int, str]:
    code = cli.main(["rollback", str(repo.path / DEV), *args, "--state-dir", str(repo.path.parent / "state")])
    return code, capsys.readouterr().err


def test_a_change_in_a_shared_file_rolled_back_restores_the_old_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = shared_repo(tmp_path)
    good = repo.head()
    before = hashes(repo.path / DEV)
    repo.write("shared/base.yaml", BASE.replace("7.2", "7.4").encode())  # only a file outside the folder
    repo.write("shared/notes.txt", b"edited since\n")
    repo.commit("shared: redis 7.4 (bad)")
    assert hashes(repo.path / DEV)["redis"] != before["redis"]

    code, err = rollback(capsys, repo, "--to", good)
    assert code == 0, err
    assert "also restored, outside the folder: shared/base.yaml" in err
    head = repo.head()
    assert git(repo.path, "show", f"{head}:shared/base.yaml") + "\n" == BASE
    assert hashes(repo.path / DEV) == before  # the working tree followed: the old redis again
    assert git(repo.path, "show", f"{head}:shared/notes.txt") == "edited since"  # not read by dev: left alone
    assert git(repo.path, "diff", "--name-only", f"{head}~1", head).split() == ["shared/base.yaml"]
    assert also_restored(git(repo.path, "log", "-1", "--format=%B", head)) == ["shared/base.yaml"]


def test_a_shared_file_deleted_since_comes_back_and_an_include_added_since_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = shared_repo(tmp_path)
    good = repo.head()
    before = hashes(repo.path / DEV)
    (repo.path / "shared/cache.yaml").unlink()  # dev now includes a new file instead
    repo.write("shared/cache2.yaml", CACHE.replace("redis:", "redis:\n    hostname: r2").encode())
    compose = repo.path / DEV / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("cache.yaml", "cache2.yaml"))
    repo.commit("dev: cache2")
    code, err = rollback(capsys, repo, "--to", good)
    assert code == 0, err
    assert (repo.path / "shared/cache.yaml").read_text() == CACHE
    assert (repo.path / "shared/cache2.yaml").is_file()  # not read at the target: left as it is
    assert hashes(repo.path / DEV) == before


def test_folder_only_leaves_the_shared_files_as_at_the_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = shared_repo(tmp_path)
    good = repo.head()
    repo.write("shared/base.yaml", BASE.replace("7.2", "7.4").encode())
    bad = repo.commit("shared: redis 7.4")
    code, err = rollback(capsys, repo, "--to", good, "--folder-only")
    assert code == 1 and "nothing to roll back" in err and repo.head() == bad
    code, err = rollback(capsys, repo, "--to", good)
    assert code == 0 and repo.head() != bad, err
    code, err = rollback(capsys, repo, "--to", good)  # everything it reads is as at good already
    assert code == 1 and "nothing to roll back" in err and "path(s) it reads outside it" in err


def test_on_a_remote_the_inputs_are_read_from_the_target_commit_of_the_mirror(
    tmp_path: Path, remote: tuple[Path, Repo]
) -> None:
    bare, clone = remote
    clone.write("shared/base.yaml", BASE.encode())
    clone.write("environments/dev/stack.yaml", b"kind: Stack\n")
    good = clone.commit("dev reads shared/base.yaml", push=True)
    clone.write("shared/base.yaml", BASE.replace("7.2", "7.4").encode())
    clone.write("environments/dev/stack.yaml", b"kind: Stack\nspec: {}\n")
    clone.commit("bad", push=True)
    seen: list[Path] = []

    def inputs(top: Path) -> list[str]:
        seen.append(top)
        assert (top / "shared/base.yaml").read_text() == BASE  # the target's tree, whole
        return ["shared/base.yaml", "environments/dev/stack.yaml", "environments", "../outside", "/etc/hosts"]

    new = restore_commit(f"file://{bare}", "main", DEV, good, push=True, work_dir=tmp_path / "work",
                         author_name="Ops", author_email="ops@example.com", inputs=inputs)  # fmt: skip
    assert git(bare, "show", f"{new.sha}:shared/base.yaml") + "\n" == BASE
    assert also_restored(new.message) == ["shared/base.yaml"]  # not the folder's own, its parent or outside
    assert git(bare, "diff", "--name-only", good, new.sha) == "" and not seen[0].exists()  # the checkout is gone
