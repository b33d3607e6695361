"""restore_commit: one new commit restoring a folder byte for byte, on a remote and on local repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitsource.gitkit import STACK_V1, Repo, disk_files, git, new_repo, populate, tree_files
from reconciler.core.errors import PermanentError
from reconciler.drivers.git.rollback import BranchMoved, NothingToRollBack, restore_commit
from reconciler.drivers.git.source import Revision

DEV = "environments/dev"
WHO = {"author_name": "Ops On Call", "author_email": "ops@example.com"}


def history(repo_dir: Path, ref: str = "main") -> list[str]:
    return git(repo_dir, "rev-list", "--reverse", ref).split()


def assert_restored(repo_dir: Path, new: Revision, to: str, parent: str) -> None:
    """DEV at ``new`` is DEV at ``to``; everything else is ``parent``'s; one commit on top of ``parent``."""
    assert git(repo_dir, "rev-parse", f"{new.sha}^@") == parent
    assert tree_files(repo_dir, new.sha, DEV) == tree_files(repo_dir, to, DEV)
    assert tree_files(repo_dir, new.sha, DEV)["stack.yaml"] == ("100644", STACK_V1)  # comments and spacing kept
    changed = git(repo_dir, "diff", "--name-only", parent, new.sha).split()
    assert changed and all(name.startswith(f"{DEV}/") for name in changed)
    assert new.subject == f"Rollback {DEV} to {to[:12]}: dev: backend 1.0"
    assert new.author == "Ops On Call <ops@example.com>"
    assert f"Rollback-To: {to}" in new.message


def test_rollback_on_a_remote_pushes_one_commit(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    v1, v2, v3 = history(bare)
    new = restore_commit(
        f"file://{bare}", "main", f"{DEV}/", v1, message="2.0 crashes on start", push=True,
        work_dir=tmp_path / "work", **WHO,
    )  # fmt: skip
    assert history(bare) == [v1, v2, v3, new.sha] and git(bare, "rev-parse", "main") == new.sha
    assert_restored(bare, new, v1, v3)
    assert "2.0 crashes on start" in new.message
    with pytest.raises(NothingToRollBack, match="nothing to roll back"):
        restore_commit(f"file://{bare}", "main", DEV, v1, push=True, work_dir=tmp_path / "work", **WHO)


def test_without_push_the_remote_is_untouched(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    v1, _v2, v3 = history(bare)
    new = restore_commit(f"file://{bare}", "main", DEV, v1[:8], work_dir=tmp_path / "work", **WHO)
    assert git(bare, "rev-parse", "main") == v3
    assert new.subject.startswith(f"Rollback {DEV} to {v1[:12]}")


def test_nothing_differs_is_a_clear_error(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    _v1, v2, v3 = history(bare)
    with pytest.raises(NothingToRollBack) as info:
        restore_commit(f"file://{bare}", "main", DEV, v2, push=True, work_dir=tmp_path / "work", **WHO)
    assert v2[:12] in str(info.value) and DEV in str(info.value)
    assert git(bare, "rev-parse", "main") == v3


def test_a_head_other_than_the_reviewed_one_is_refused(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    v1, v2, v3 = history(bare)
    with pytest.raises(BranchMoved, match=f"at {v3[:12]}, not at {v2[:12]}"):
        restore_commit(f"file://{bare}", "main", DEV, v1, push=True, work_dir=tmp_path / "w", expected_head=v2, **WHO)
    assert git(bare, "rev-parse", "main") == v3
    new = restore_commit(f"file://{bare}", "main", DEV, v1, push=True, work_dir=tmp_path / "w", expected_head=v3, **WHO)
    assert git(bare, "rev-parse", "main") == new.sha


def test_a_branch_that_moved_during_the_push_is_rebuilt_once_never_forced(
    tmp_path: Path, remote: tuple[Path, Repo]
) -> None:
    bare, clone = remote
    v1, _v2, _v3 = history(bare)
    clone.write("environments/prod/stack.yaml", b"kind: Stack\nspec: {replicas: 2}\n")
    other = clone.commit("prod: someone else's change")
    git(clone.path, "push", "-q", "origin", "HEAD:refs/heads/other")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(  # the first push finds main moved under it (by someone else's push)
        "#!/bin/sh\ncat >/dev/null\n[ -e moved ] && exit 0\ntouch moved\n"
        f"env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main {other}\n"
    )
    hook.chmod(0o755)
    new = restore_commit(f"file://{bare}", "main", DEV, v1, push=True, work_dir=tmp_path / "work", **WHO)
    assert (bare / "moved").exists() and git(bare, "rev-parse", "main") == new.sha
    assert_restored(bare, new, v1, other)  # rebuilt on the new head: the other change is kept


def test_a_folder_missing_at_the_target_or_an_unknown_revision(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    v1, _v2, _v3 = history(bare)
    with pytest.raises(PermanentError, match=f"'environments/qa' is not a folder at commit {v1[:12]}"):
        restore_commit(str(bare), "main", "environments/qa", v1, work_dir=tmp_path, **WHO)
    with pytest.raises(PermanentError, match="revision 'deadbeef' not found"):
        restore_commit(f"file://{bare}", "main", DEV, "deadbeef", work_dir=tmp_path / "w", **WHO)


def test_a_local_checked_out_branch_moves_with_its_clean_working_tree(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "local")
    v1, _v2, v3 = populate(repo)
    repo.write("notes.txt", b"untracked, mine\n")
    new = restore_commit(str(repo.path), "main", DEV, v1, work_dir=tmp_path / "unused", **WHO)
    assert repo.head() == new.sha and git(repo.path, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert_restored(repo.path, new, v1, v3)
    assert git(repo.path, "status", "--porcelain") == "?? notes.txt"
    assert disk_files(repo.path / DEV) == tree_files(repo.path, new.sha, DEV)
    assert git(repo.path, "reflog", "-1", "--format=%gs", "main") == f"reconciler rollback of {DEV}"


def test_a_local_working_tree_with_edits_is_refused_and_untouched(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "local")
    v1, _v2, v3 = populate(repo)
    repo.write("environments/prod/stack.yaml", b"my: edit\n")
    with pytest.raises(PermanentError, match="uncommitted changes: commit or stash them"):
        restore_commit(str(repo.path), "main", DEV, v1, work_dir=tmp_path, **WHO)
    assert repo.head() == v3 and (repo.path / "environments/prod/stack.yaml").read_bytes() == b"my: edit\n"


def test_an_untracked_file_the_rollback_would_overwrite_is_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "local")
    v1, _v2, v3 = populate(repo)
    repo.write(f"{DEV}/old.yaml", b"mine, untracked\n")  # old.yaml is restored by the rollback
    with pytest.raises(PermanentError, match="would lose files"):
        restore_commit(str(repo.path), "main", DEV, v1, work_dir=tmp_path, **WHO)
    assert repo.head() == v3 and (repo.path / DEV / "old.yaml").read_bytes() == b"mine, untracked\n"


def test_a_local_branch_not_checked_out_leaves_the_working_tree_and_index_alone(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "local")
    v1, _v2, v3 = populate(repo)
    git(repo.path, "checkout", "-q", "-b", "feature")
    repo.write(f"{DEV}/stack.yaml", b"work: in progress\n")
    git(repo.path, "add", "-A")
    before = git(repo.path, "status", "--porcelain")
    new = restore_commit(str(repo.path), "main", DEV, v1, work_dir=tmp_path, **WHO)
    assert repo.head("main") == new.sha and repo.head() == v3
    assert git(repo.path, "status", "--porcelain") == before == f"M  {DEV}/stack.yaml"
    assert (repo.path / DEV / "stack.yaml").read_bytes() == b"work: in progress\n"
    assert_restored(repo.path, new, v1, v3)


def test_a_local_bare_repository_and_its_compare_and_swap(tmp_path: Path, remote: tuple[Path, Repo]) -> None:
    bare, _clone = remote
    v1, v2, v3 = history(bare)
    with pytest.raises(BranchMoved):
        restore_commit(str(bare), "main", DEV, v1, work_dir=tmp_path, expected_head=v2, **WHO)
    assert git(bare, "rev-parse", "main") == v3
    new = restore_commit(str(bare), "main", DEV, v1, work_dir=tmp_path / "work", push=True, **WHO)
    assert git(bare, "rev-parse", "main") == new.sha
    assert_restored(bare, new, v1, v3)
    assert not (tmp_path / "work").exists()  # a local repository needs no mirror


def test_a_local_path_that_is_no_repository(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="not a git repository") as info:
        restore_commit(str(tmp_path), "main", DEV, "HEAD~1", work_dir=tmp_path / "work", **WHO)
    assert str(tmp_path) in str(info.value)
