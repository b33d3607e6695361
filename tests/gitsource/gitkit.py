"""Helpers for the git tests: run git, write and commit files, read a commit's files."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

STACK_V1 = b"# the backend, pinned\nkind: Stack  # keep this comment\nspec:\n  tag: '1.0'   # odd spacing kept\n"
STACK_V2 = b"kind: Stack\nspec:\n  tag: '2.0'\n"


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout.decode().strip()


@dataclass
class Repo:
    """A working tree (a clone of the remote, or a local repository) that commits."""

    path: Path

    def write(self, rel: str, data: bytes, *, mode: int = 0o644) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)

    def commit(self, subject: str, *, push: bool = False) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", subject, "-m", "the body")
        if push:
            git(self.path, "push", "-q", "origin", "HEAD:main")
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return git(self.path, "rev-parse", ref)


def configure(path: Path) -> None:
    git(path, "config", "user.name", "Dev One")
    git(path, "config", "user.email", "dev1@example.com")


def new_repo(path: Path) -> Repo:
    git(path.parent, "init", "-q", "-b", "main", str(path))
    configure(path)
    return Repo(path)


def populate(repo: Repo) -> list[str]:
    """Three commits: dev v1 (+ exec script, symlink), dev v2, prod and README only. Their shas."""
    repo.write("README.md", b"# environments\n")
    repo.write("environments/dev/stack.yaml", STACK_V1)
    repo.write("environments/dev/old.yaml", b"gone: in v2\n")
    repo.write("environments/dev/hooks/check.sh", b"#!/bin/sh\nexit 0\n", mode=0o755)
    (repo.path / "environments/dev/current.yaml").symlink_to("stack.yaml")
    repo.write("environments/prod/stack.yaml", b"kind: Stack\n")
    shas = [repo.commit("dev: backend 1.0")]
    repo.write("environments/dev/stack.yaml", STACK_V2)
    (repo.path / "environments/dev/old.yaml").unlink()
    repo.write("environments/dev/new.yaml", b"added: in v2\n")
    shas.append(repo.commit("dev: backend 2.0 (bad)"))
    repo.write("environments/prod/stack.yaml", b"kind: Stack\nspec: {}\n")
    repo.write("README.md", b"# environments\n\nmore\n")
    shas.append(repo.commit("prod: tweak"))
    return shas


def make_remote(tmp_path: Path) -> tuple[Path, Repo]:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    configure(clone)
    repo = Repo(clone)
    populate(repo)
    git(clone, "push", "-q", "origin", "HEAD:main")
    return bare, repo


def tree_files(repo_dir: Path, rev: str, path: str) -> dict[str, tuple[str, bytes]]:
    """{relative name: (git mode, bytes)} of every file under ``path`` at ``rev``."""
    out = git(repo_dir, "ls-tree", "-r", "-z", "--full-tree", rev, *(["--", path] if path else []))
    files: dict[str, tuple[str, bytes]] = {}
    for entry in filter(None, out.split("\0")):
        meta, name = entry.split("\t", 1)
        mode, _kind, sha = meta.split(" ")
        data = subprocess.run(["git", "cat-file", "blob", sha], cwd=repo_dir, capture_output=True, check=True).stdout
        files[name[len(path) + 1 :] if path else name] = (mode, data)
    return files


def disk_files(root: Path) -> dict[str, tuple[str, bytes]]:
    """The same view of a directory on disk (symlinks as their target)."""
    files: dict[str, tuple[str, bytes]] = {}
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if item.is_symlink():
            files[rel] = ("120000", str(item.readlink()).encode())
        elif item.is_file():
            files[rel] = ("100755" if item.stat().st_mode & 0o100 else "100644", item.read_bytes())
    return files
