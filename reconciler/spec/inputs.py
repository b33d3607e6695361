"""What an environment reads, and whether a change touches it. Pure apart from reading files.

An environment is changed by a commit when a file it reads changed: anything under its folder,
or a file outside it that one of its stacks reads: the compose file, the files that file
``include``-s (followed through nested includes, with their ``env_file`` and
``project_directory``), and the relative paths its services name (bind-mount sources,
``env_file`` entries, build contexts, ``extends`` files; see
:func:`~reconciler.spec.stack_paths.host_paths`), resolved against the stack's project
directory; and every file the reading of its compose files read (``StackSpec.files``: included
and extended files and env files, their paths' variables resolved with the stack's values). A
path is a file or a folder (a folder stands for everything under it).

:func:`environment_inputs` reads the folder (the specs must be valid; the caller falls back
to the folder alone when they are not); :func:`relative_inputs` names them inside the repository
(a rollback restores them with the folder); :func:`touched` is the pure comparison with a list of
changed files, as git names them (POSIX paths relative to the repository's top). The git side
is :mod:`reconciler.drivers.git.changes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.core.errors import SpecError
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment
from reconciler.spec.source import read_yaml

__all__ = ["EnvironmentInputs", "environment_inputs", "relative_inputs", "touched"]

_MAX_INCLUDES = 50  # included files followed per stack (a guard against include cycles and fan-out)


@dataclass(frozen=True)
class EnvironmentInputs:
    """The environment's folder and the other files and folders its stacks read (absolute)."""

    folder: Path
    paths: tuple[Path, ...] = ()


def environment_inputs(env_dir: Path) -> EnvironmentInputs:
    """What the environment in ``env_dir`` reads. Raises SpecError when its specs are invalid."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(unchecked)")
    paths: list[Path] = []
    for stack in desired.stacks:
        paths.append(stack.compose_file)
        paths += _included(stack.compose_file)
        paths += [p for p in stack.files if "$" not in str(p)]  # every file read, variables resolved
        paths += [stack.project_dir / p for s in stack.services for p in s.host_paths]
    return EnvironmentInputs(loaded.env_dir, tuple(dict.fromkeys(Path(os.path.normpath(p)) for p in paths)))


def touched(inputs: EnvironmentInputs, changed: Iterable[str], top: Path) -> tuple[str, ...]:
    """The files of ``changed`` (POSIX, relative to the repository's ``top``) the environment reads,
    in the order given. Paths outside ``top`` never match. Pure."""
    prefixes = {p for path in (inputs.folder, *inputs.paths) for p in _relative(path, top)}
    if "" in prefixes:  # the environment is the whole repository
        return tuple(changed)
    return tuple(c for c in changed if any(c == p or c.startswith(p + "/") for p in prefixes))


def relative_inputs(inputs: EnvironmentInputs, top: Path) -> tuple[str, ...]:
    """The files and folders besides its folder the environment reads, relative to the repository's
    ``top`` (POSIX; as written and with symlinks resolved; those outside ``top`` left out). Pure."""
    return tuple(dict.fromkeys(p for path in inputs.paths for p in _relative(path, top) if p))


def _relative(path: Path, top: Path) -> Iterator[str]:
    """``path`` relative to ``top`` as written and with its symlinks resolved (each when inside ``top``)."""
    for candidate, base in ((Path(os.path.normpath(path)), top), (Path(os.path.realpath(path)), top.resolve())):
        try:
            rel = PurePosixPath(candidate.relative_to(base).as_posix()).as_posix()
        except ValueError:
            continue
        yield "" if rel == "." else rel


def _included(compose_file: Path) -> list[Path]:
    """The files a compose file ``include``-s, nested includes followed (relative paths resolve
    against the including file's folder, or the include's ``project_directory``)."""
    found: list[Path] = []
    queue = [compose_file]
    seen = {Path(os.path.normpath(compose_file))}
    while queue and len(found) < _MAX_INCLUDES:
        current = queue.pop(0)
        for path in _include_entries(current):
            norm = Path(os.path.normpath(path))
            if norm in seen:
                continue
            seen.add(norm)
            found.append(norm)
            if norm.suffix in (".yaml", ".yml"):
                queue.append(norm)
    return found


def _include_entries(compose_file: Path) -> list[Path]:
    try:
        docs = read_yaml(compose_file, str(compose_file), strict=False)
    except SpecError:
        return []  # unreadable here: the loader reports it; the file itself is an input already
    data = docs[0].data if docs else None
    entries = data.get("include") if isinstance(data, dict) else None
    folder = compose_file.parent
    paths: list[Path] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            paths.append(folder / entry)
        elif isinstance(entry, dict):
            base = folder / str(entry["project_directory"]) if isinstance(entry.get("project_directory"), str) else None
            paths += [folder / p for p in _strings(entry.get("path"))]
            paths += [(base or folder) / p for p in _strings(entry.get("env_file"))]
    return [p for p in paths if "://" not in str(p)]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
