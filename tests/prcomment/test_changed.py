"""Which environments a pull request changes (reconciler.app.changed): a file in the folder, the
compose file a stack reads from outside it, a file that compose file includes, a bind-mounted
file, a rename out of the folder; nothing else. Real git repositories; no AWS or Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.app.changed import changed_environments, moved_to
from reconciler.core.errors import ReconcilerError

from .gitrepo import commit, git, init, write_environment

STACK = """apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata: {name: app}
spec:
  composeFile: ../../stacks/app/compose.yaml
  project: app
"""

COMPOSE = """include:
  - extra.yaml
services:
  web:
    image: busybox:1
    volumes: [./conf/web.conf:/etc/web.conf:ro]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    init(repo)
    for name in ("dev", "prod", "stage"):
        write_environment(repo / "environments" / name, name, "http://127.0.0.1:1", f"/t/{name}", {"A": "1"})
    (repo / "environments/dev/stack.yaml").write_text(STACK)
    stacks = repo / "stacks/app"
    (stacks / "conf").mkdir(parents=True)
    (stacks / "compose.yaml").write_text(COMPOSE)
    (stacks / "extra.yaml").write_text("services:\n  side:\n    image: busybox:1\n")
    (stacks / "conf/web.conf").write_text("x=1\n")
    (stacks / "unrelated.txt").write_text("x\n")
    (repo / "README.md").write_text("# gitops\n")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "change")
    return repo


def changed(repo: Path) -> dict[str, tuple[str, ...]]:
    envs = sorted((repo / "environments").iterdir())
    return {f.key: f.changed for f in changed_environments(envs, "main") if f.changed}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("environments/prod/parameters.yaml", {"environments/prod": ("environments/prod/parameters.yaml",)}),
        ("environments/prod/notes/README.md", {"environments/prod": ("environments/prod/notes/README.md",)}),
        ("stacks/app/compose.yaml", {"environments/dev": ("stacks/app/compose.yaml",)}),
        ("stacks/app/extra.yaml", {"environments/dev": ("stacks/app/extra.yaml",)}),
        ("stacks/app/conf/web.conf", {"environments/dev": ("stacks/app/conf/web.conf",)}),
        ("stacks/app/unrelated.txt", {}),
        ("README.md", {}),
    ],
)
def test_an_environment_is_changed_by_a_file_it_reads(
    repo: Path, path: str, expected: dict[str, tuple[str, ...]]
) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + "# changed\n")
    commit(repo, f"change {path}")
    assert changed(repo) == expected


def test_a_file_moved_out_of_a_folder_changes_it(repo: Path) -> None:
    git(repo, "mv", "environments/stage/parameters.yaml", "parameters-of-stage.yaml")
    commit(repo, "move")
    assert changed(repo) == {"environments/stage": ("environments/stage/parameters.yaml",)}


def test_a_change_merged_into_main_meanwhile_is_not_the_pull_requests(repo: Path) -> None:
    (repo / "environments/prod/parameters.yaml").write_text((repo / "environments/prod/parameters.yaml").read_text())
    git(repo, "checkout", "-q", "main")
    (repo / "environments/stage/extra.yaml").write_text("# on main\n")
    commit(repo, "main moves on")
    git(repo, "checkout", "-q", "change")
    (repo / "environments/prod/extra.yaml").write_text("# in the pull request\n")
    commit(repo, "pr")
    assert changed(repo) == {"environments/prod": ("environments/prod/extra.yaml",)}


def test_an_invalid_environment_still_counts_its_folder(repo: Path) -> None:
    (repo / "environments/prod/parameters.yaml").write_text("kind: [broken\n")
    commit(repo, "break prod")
    assert changed(repo) == {"environments/prod": ("environments/prod/parameters.yaml",)}


def test_an_unknown_base_revision_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ReconcilerError, match=r"cannot list the files changed since 'origin/main'.*fetch-depth: 0"):
        changed_environments([repo / "environments/dev"], "origin/main")


def test_outside_git_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    with pytest.raises(ReconcilerError, match="needs a git repository"):
        changed_environments([tmp_path / "env"], "main")


def test_a_file_included_through_a_variable_changes_the_environment(repo: Path) -> None:
    """``include: ${PARTS}/side.yaml`` with PARTS a String parameter of the stack: the file it names
    (outside the folder) is an input; its neighbour is not."""
    write_environment(repo / "environments" / "dev", "dev", "http://127.0.0.1:1", "/t/dev", {"PARTS": "parts"})
    (repo / "environments/dev/stack.yaml").write_text(STACK + "  parameterSets: [config]\n")
    parts = repo / "stacks/app/parts"
    parts.mkdir()
    (parts / "side.yaml").write_text("services:\n  side2:\n    image: busybox:1\n")
    (parts / "other.yaml").write_text("services:\n  other:\n    image: busybox:1\n")
    (repo / "stacks/app/compose.yaml").write_text(COMPOSE.replace("  - extra.yaml\n", "  - ${PARTS}/side.yaml\n"))
    commit(repo, "include through a variable")
    git(repo, "checkout", "-q", "-B", "main")
    git(repo, "checkout", "-q", "-b", "variable")
    for name in ("side.yaml", "other.yaml"):
        (parts / name).write_text((parts / name).read_text() + "# changed\n")
    commit(repo, "change both")
    assert changed(repo) == {"environments/dev": ("stacks/app/parts/side.yaml",)}


def test_moved_to_is_the_folder_most_files_of_the_old_one_went_to() -> None:
    pairs = [
        ("environments/prod/a.yaml", "environments/production/a.yaml"),
        ("environments/prod/sub/b.yaml", "environments/production/sub/b.yaml"),
        ("environments/prod/c.yaml", "archive/c.yaml"),
        ("environments/prod-eu/a.yaml", "environments/eu/a.yaml"),  # another folder sharing the prefix
    ]
    assert moved_to("environments/prod", pairs) == "environments/production"
    assert moved_to("environments/prod-eu", pairs) == "environments/eu"
    assert moved_to("environments/dev", pairs) is None
    assert moved_to("environments/prod", [("environments/prod/a.yaml", "a.yaml")]) is None  # to the top: no folder
