"""Environments of images in a real git repository: a bare remote and clones, the CLI run in-process.
Test helper."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT = """apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  registry: {{type: oci, url: "{registry}", insecure: true}}
"""
IMAGES = """# Image versions of {name}: bump a tag here (a commit) to deploy it.
apiVersion: reconciler.dev/v1alpha1
kind: Images
metadata:
  name: app-images
spec:
  images:
    frontend: {{repository: {repo}/frontend, tag: "{frontend}"{fpolicy}}}
    backend: {{repository: {repo}/backend, tag: "{backend}"{bpolicy}}}   # the API
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass(frozen=True)
class Clone:
    path: Path
    state: Path  # its --state-dir

    def env(self, name: str) -> Path:
        return self.path / "environments" / name

    def head(self, ref: str = "HEAD") -> str:
        return git(self.path, "rev-parse", ref)

    def images(self, name: str) -> bytes:
        return (self.env(name) / "images.yaml").read_bytes()


def images_text(name: str, repo: str, frontend: str, backend: str, policy: str = "", fpolicy: str = "") -> str:
    return IMAGES.format(name=name, repo=repo, frontend=frontend, backend=backend,
                         bpolicy=f", policy: {policy}" if policy else "",
                         fpolicy=f", policy: {fpolicy}" if fpolicy else "")  # fmt: skip


def make_remote(tmp: Path, registry: str, envs: dict[str, str], environment: str = ENVIRONMENT) -> Path:
    """A bare remote whose main holds environments/<name>/ (an Environment, ``envs[name]`` as images.yaml)."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = clone(tmp, remote, "seed")
    for name, images in envs.items():
        folder = seed.env(name)
        folder.mkdir(parents=True)
        (folder / "environment.yaml").write_text(environment.format(name=name, registry=registry))
        (folder / "images.yaml").write_text(images)
    git(seed.path, "add", "-A")
    git(seed.path, "commit", "-q", "-m", "environments")
    git(seed.path, "push", "-q", "origin", "main")
    return remote


def clone(tmp: Path, remote: Path, name: str) -> Clone:
    path = tmp / name
    git(tmp, "clone", "-q", str(remote), str(path))
    git(path, "config", "user.name", f"Dev {name}")
    git(path, "config", "user.email", f"{name}@example.com")
    return Clone(path, tmp / f"state-{name}")


def cli(capsys: pytest.CaptureFixture[str], clone: Clone, *args: str) -> tuple[int, str]:
    """Run the CLI in ``clone`` (its own state dir); exit code and what it said on stderr."""
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(clone.path)
    try:
        code = main([*args, "--state-dir", str(clone.state)])
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


def cli_command(clone: Clone, *args: str) -> str:
    """The shell command running the CLI in ``clone`` (for a git hook)."""
    argv = " ".join(f"'{a}'" for a in (*args, "--state-dir", str(clone.state)))
    clean = "env -u GIT_DIR -u GIT_WORK_TREE -u GIT_INDEX_FILE -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY"
    return f"cd '{clone.path}' && {clean} PYTHONPATH='{ROOT}' '{sys.executable}' -m reconciler.cli {argv}"


def mirror_hook(clone: Clone, remote: Path, script: str) -> Path:
    """Install a pre-push hook (run once) in the private mirror ``clone``'s pushes go through: what it
    runs happens between the fetch and the push, as another updater pushing first would."""
    from reconciler.drivers.git.source import GitSource

    source = GitSource(str(remote), "main", clone.state / "commits")
    source.fetch()
    marker = clone.state / "hook-ran"
    hook = source.mirror / "hooks" / "pre-push"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\nif [ ! -e '{marker}' ]; then touch '{marker}'; ( {script} ) >&2 || exit 1; fi\n")
    hook.chmod(0o755)
    return marker
