"""Where a stack's relative paths resolve: its Compose project directory. Pure apart from checking that folder.

Compose resolves the relative paths of a compose file (bind-mount sources, ``env_file``
entries, build contexts, ``extends`` files) against the *project directory*: the folder of the
compose file, unless ``--project-directory`` names another. A ComposeStack follows it:
:func:`project_directory` is its ``projectDirectory`` (relative to the environment folder)
when set, else the folder of its ``composeFile``, normalised the way Compose makes a path
absolute (``..`` removed, symlinks kept). Validate, plan and apply hand that one folder to
Compose. :func:`project_directory_issues` checks that a ``projectDirectory`` is a folder;
:func:`host_paths` lists the relative paths a service names (a service with some runs
differently when its project directory moves, so the config hash covers that directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from reconciler.core.errors import SpecIssue
from reconciler.spec.checks import Declared
from reconciler.spec.documents import ComposeStackSection

#: the first characters of a path that does not resolve against the project directory
_NOT_RELATIVE = ("/", "~", "$")


def project_directory(env_dir: Path, spec: ComposeStackSection) -> Path:
    """The stack's project directory: ``projectDirectory`` under ``env_dir`` when set, else the
    compose file's folder; absolute and normalised as Compose's ``filepath.Abs`` does."""
    chosen = spec.project_directory
    if chosen is None:
        chosen = str(PurePosixPath(spec.compose_file).parent)
    return Path(os.path.normpath(env_dir / chosen))


def project_folder(env_dir: Path, project_dir: Path) -> str:
    """``project_dir`` relative to the environment folder, POSIX style (``.`` when it is that folder)."""
    return PurePosixPath(os.path.relpath(project_dir, env_dir)).as_posix()


def project_directory_issues(found: Declared) -> list[SpecIssue]:
    """A stack's ``projectDirectory`` is an existing folder."""
    issues: list[SpecIssue] = []
    for name, stack in found.stacks.items():
        chosen = stack.spec.project_directory
        if chosen is None:
            continue
        path = project_directory(found.env_dir, stack.spec)
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "not found"
            issues.append(
                found.source("ComposeStack", name).issue(
                    ("spec", "projectDirectory"), f"project directory '{chosen}' {what} ({path})"
                )
            )
    return issues


def host_paths(raw: Mapping[str, object]) -> tuple[str, ...]:
    """The relative host paths a compose service names, as written, sorted: bind-mount sources,
    ``env_file`` entries, its build context and its ``extends`` file."""
    found = [
        *_bind_sources(raw.get("volumes")),
        *_env_files(raw.get("env_file")),
        *_build_context(raw.get("build")),
        *_extends_file(raw.get("extends")),
    ]
    return tuple(sorted({path for path in found if path and not path.startswith(_NOT_RELATIVE)}))


def env_files(raw: Mapping[str, object], project_dir: Path) -> tuple[Path, ...]:
    """The files a compose service's ``env_file`` and ``label_file`` name (which Compose reads), resolved
    against ``project_dir`` (``~`` is the home folder); one naming a variable is left out (reading the
    compose files resolves it with the stack's values: ``ComposeModel.files``)."""
    return tuple(
        Path(os.path.normpath(project_dir / os.path.expanduser(path))) for path in service_files(raw) if "$" not in path
    )


def service_files(raw: Mapping[str, object]) -> list[str]:
    """The ``env_file`` and ``label_file`` entries of a compose service, as written."""
    return [*_env_files(raw.get("env_file")), *_env_files(raw.get("label_file"))]


def _bind_sources(volumes: object) -> Iterable[str]:
    for entry in volumes if isinstance(volumes, list) else ():
        if isinstance(entry, str):
            source, sep, _ = entry.partition(":")
            if sep and source.startswith("."):  # short syntax: a path starts with . / or ~
                yield source
        elif isinstance(entry, dict) and entry.get("type") == "bind" and isinstance(entry.get("source"), str):
            yield str(entry["source"])


def _env_files(env_file: object) -> Iterable[str]:
    entries = env_file if isinstance(env_file, list) else [env_file]
    for entry in entries:
        path = entry.get("path") if isinstance(entry, dict) else entry
        if isinstance(path, str):
            yield path


def _build_context(build: object) -> Iterable[str]:
    context = build.get("context", ".") if isinstance(build, dict) else build
    if isinstance(context, str) and "://" not in context and not context.startswith("git@"):
        yield context


def _extends_file(extends: object) -> Iterable[str]:
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        yield str(extends["file"])
