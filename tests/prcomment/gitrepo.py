"""A real git repository of environments in a temp dir, for the comment tests. Test helper."""

from __future__ import annotations

import subprocess
from pathlib import Path

ENVIRONMENT = """apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata: {{name: {name}}}
spec:
  aws: {{region: ap-northeast-2, endpointUrl: "{moto}"}}
  parameterPrefix: {prefix}
  ownership: {owner}
"""

PARAMETERS = """apiVersion: reconciler.dev/v1alpha1
kind: ParameterSet
metadata: {{name: config}}
spec:
  path: {prefix}
  parameters:
{lines}
"""


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "HOME": str(repo), "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def init(repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def write_environment(folder: Path, name: str, moto: str, prefix: str, parameters: dict[str, str],
                      extra: str = "") -> None:  # fmt: skip
    """A parameters-only environment (plans against moto alone); ``extra`` is added to the lines
    of the parameter set as written (e.g. a SecureString fromEnv)."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = prefix.strip("/").replace("/", "-")
    (folder / "environment.yaml").write_text(ENVIRONMENT.format(name=name, moto=moto, prefix=prefix, owner=owner))
    lines = "\n".join(f'    {k}: "{v}"' for k, v in parameters.items()) + extra
    (folder / "parameters.yaml").write_text(PARAMETERS.format(prefix=prefix, lines=lines))
