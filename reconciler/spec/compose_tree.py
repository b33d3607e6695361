"""Read a stack's compose file with every file it includes, as Compose does. Pure apart from reading files.

Compose's ``include:`` (short form ``- path``, or long form ``- path: <file or list>``,
``project_directory``, ``env_file``) makes another compose file part of the project. Its rules,
followed here: an include path is relative to the including file's working directory (the
stack's project directory for the compose file itself); an included file's relative paths
(bind mounts, ``env_file``, build contexts, ``extends`` files, its own includes) resolve in its
``project_directory``, which defaults to the folder of its (first) file; it is interpolated with
the stack's values, then those of its ``env_file`` (relative to the including file's working
directory), by default the ``.env`` of its project directory, when there is one; several files
in one ``path`` are merged in order, the later overriding. :func:`read_tree` returns every file
as a :class:`ComposeSource` (the compose file first, then included files depth first) and every
file it read; each included file is read with the limits and symlink rules of the compose file
itself (:func:`~reconciler.spec.source.read_yaml`). A missing file, a cycle, a malformed entry or
a path naming a variable that cannot be resolved is an issue at the include entry's ``file:line``: a
path is interpolated with the stack's values the same on every host it runs on, then those of the
including file's include env files (:mod:`reconciler.spec.compose_values`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.compose_tags import tag_issues
from reconciler.spec.compose_variables import resolve_path
from reconciler.spec.interpolation import Values
from reconciler.spec.source import Loc, SourceDoc, read_yaml, real_path

LEADS_NOWHERE = "is a symlink that leads nowhere (dangling, or a loop)"
_DOTENV_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.*?)\s*$")


@dataclass(frozen=True)
class ComposeSource:
    """One compose file of the project and how Compose reads it."""

    doc: SourceDoc
    workdir: Path  # where its relative paths resolve (absolute, symlinks kept)
    env: Mapping[str, str] = field(default_factory=dict)  # values its include's env files give
    overrides: tuple[SourceDoc, ...] = ()  # later files of the same include entry, merged over it
    included_at: str = ""  # file:line of the include entry ("" for the compose file itself)


@dataclass(frozen=True)
class ComposeTree:
    sources: tuple[ComposeSource, ...]
    files: tuple[Path, ...]  # every file read (compose files and env files), resolved, in reading order
    issues: tuple[SpecIssue, ...] = ()


def display_of(path: Path, main: SourceDoc) -> str:
    """``path`` named as messages name the compose file ``main`` (relative to the same folder)."""
    relative = os.path.relpath(path, main.path.parent)
    return os.path.normpath(os.path.join(os.path.dirname(main.display), relative))


def read_compose_doc(path: Path, display: str) -> SourceDoc:
    """The one document of a compose file. Raises SpecError (unreadable, too large, invalid YAML, empty,
    several documents)."""
    docs = read_yaml(path, display, strict=False)
    return single_document(docs, display)


def single_document(docs: tuple[SourceDoc, ...], display: str) -> SourceDoc:
    if not docs:
        raise SpecError([SpecIssue(display, None, "", "the compose file is empty; it needs a services: mapping")])
    if len(docs) > 1:
        raise SpecError([SpecIssue(display, docs[1].line, "", "a compose file must hold a single YAML document")])
    issues = tag_issues(docs[0])
    if issues:
        raise SpecError(issues)
    return docs[0]


def missing_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None when it can."""
    if path.is_file():
        return None
    if os.path.islink(path) and not path.exists():
        return LEADS_NOWHERE
    return "is not a file" if path.exists() else "not found"


def env_file_values(path: Path) -> dict[str, str]:
    """The variables a ``.env``-style file sets (plain ``KEY=value`` lines, quotes removed)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        if (match := _DOTENV_RE.match(line)) and not line.lstrip().startswith("#"):
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[match.group(1)] = value
    return values


class _Reader:
    def __init__(self, main: SourceDoc, project_dir: Path, values: Values) -> None:
        self.main = main
        self.values = values
        self.sources: list[ComposeSource] = [ComposeSource(main, project_dir)]
        self.files: dict[Path, None] = {main.path: None}
        self.issues: list[SpecIssue] = []

    def read(self, path: Path) -> SourceDoc | None:
        self.files[path] = None
        try:
            return read_compose_doc(path, display_of(path, self.main))
        except SpecError as error:
            self.issues.extend(error.issues)
            return None

    def includes(self, source: ComposeSource, doc: SourceDoc, chain: tuple[Path, ...]) -> None:
        entries = doc.data.get("include") if isinstance(doc.data, dict) else None
        if entries is None:
            return
        if not isinstance(entries, list):
            self.issues.append(doc.issue(("include",), "include must be a list of files, or of mappings with path:"))
            return
        for i, entry in enumerate(entries):
            self.include(source, doc, ("include", i), entry, chain)

    def include(self, source: ComposeSource, doc: SourceDoc, loc: Loc, entry: object, chain: tuple[Path, ...]) -> None:
        parsed = _entry(entry)
        if isinstance(parsed, str):
            self.issues.append(doc.issue(loc, parsed))
            return
        values = {**source.env, **self.values}  # the stack's values win over an include's env files
        resolved = [resolve_path(p, values) if "$" in p else (p, "") for p in _named(parsed)]
        unresolved = [f"include path '{p}' {why}" for p, (_, why) in zip(_named(parsed), resolved, strict=True) if why]
        if unresolved:
            self.issues.extend(doc.issue(loc, problem) for problem in unresolved)
            return
        paths, project_directory, env_files = _unnamed(parsed, [p for p, _ in resolved])
        files = [Path(os.path.normpath(source.workdir / os.path.expanduser(p))) for p in paths]
        env_paths = [Path(os.path.normpath(source.workdir / os.path.expanduser(p))) for p in env_files]
        problems = [(p, missing_file_problem(p)) for p in [*files, *env_paths]]
        for path, problem in problems:
            if problem:
                what = "env file" if path in env_paths else "included file"
                named_as = os.path.relpath(path, source.workdir)
                self.issues.append(doc.issue(loc, f"{what} '{named_as}' {problem} ({path})"))
        if any(problem for _, problem in problems):
            return
        cycle = [p for p in files if real_path(p) in chain]
        if cycle:
            loop = (*chain[chain.index(real_path(cycle[0])) :], real_path(cycle[0]))
            names = [os.path.relpath(p, self.main.path.parent) for p in loop]
            self.issues.append(doc.issue(loc, f"include cycle: {' -> '.join(names)}"))
            return
        workdir = Path(os.path.normpath(source.workdir / project_directory)) if project_directory else files[0].parent
        if not env_files and (workdir / ".env").is_file():
            env_paths = [workdir / ".env"]
        own: dict[str, str] = {}
        for env_path in env_paths:
            self.files[real_path(env_path)] = None
            own.update(env_file_values(env_path))
        docs = [self.read(real_path(p)) for p in files]
        if any(d is None for d in docs):
            return
        read = [d for d in docs if d is not None]
        included = ComposeSource(read[0], workdir, {**own, **source.env}, tuple(read[1:]), doc.where(loc))
        self.sources.append(included)
        for each in read:
            self.includes(included, each, (*chain, each.path))


def _named(parsed: tuple[list[str], str | None, list[str]]) -> list[str]:
    paths, project_directory, env_files = parsed
    return [*paths, *([project_directory] if project_directory is not None else []), *env_files]


def _unnamed(
    parsed: tuple[list[str], str | None, list[str]], named: list[str]
) -> tuple[list[str], str | None, list[str]]:
    """``parsed`` with the paths ``named`` (as :func:`_named` lists them) in their places."""
    paths, project_directory, _ = parsed
    count = len(paths) + (project_directory is not None)
    return named[: len(paths)], named[len(paths)] if project_directory is not None else None, named[count:]


def _entry(entry: object) -> tuple[list[str], str | None, list[str]] | str:
    """(paths, project_directory, env_files) of an include entry, or what is wrong with it."""
    if isinstance(entry, str):
        return [entry], None, []
    if not isinstance(entry, dict):
        return "an include entry is a file path or a mapping with path: (and project_directory:, env_file:)"
    path, project_directory, env_file = entry.get("path"), entry.get("project_directory"), entry.get("env_file")
    paths = [path] if isinstance(path, str) else path
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        return "include needs path: a file, or a list of files"
    if project_directory is not None and not isinstance(project_directory, str):
        return "include project_directory must be a folder path"
    env_files = [env_file] if isinstance(env_file, str) else env_file or []
    if not isinstance(env_files, list) or not all(isinstance(p, str) for p in env_files):
        return "include env_file must be a file path or a list of them"
    return list(paths), project_directory, list(env_files)


def read_tree(main: SourceDoc, project_dir: Path, values: Values) -> ComposeTree:
    """The compose file ``main`` (read) and every file it includes, for a stack whose project
    directory is ``project_dir`` and whose values (which an include path may name) are ``values``."""
    reader = _Reader(main, project_dir, values)
    reader.includes(reader.sources[0], main, (main.path,))
    return ComposeTree(tuple(reader.sources), tuple(reader.files), tuple(reader.issues))
