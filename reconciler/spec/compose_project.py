"""Gather a compose project's services and declarations across its files. Pure apart from reading files.

From the :class:`~reconciler.spec.compose_tree.ComposeTree` of a stack (the compose file and the
files it includes), :func:`gather` collects, as Compose's project has them: every service with the
document it is written in (for its ``file:line``) and its mapping, relative paths rebased to the
stack's project directory, the later files of an include's ``path`` merged over the first (their
``!reset`` and ``!override`` applied: :mod:`reconciler.spec.compose_tags`), ``extends`` resolved
(:mod:`reconciler.spec.compose_extends`); the top-level ``networks`` and ``volumes`` of every file;
every variable reference of every file Compose interpolates (included and extended files too, each
with the values its include's env files give); and every file read. A service defined in two files
is refused, as Compose refuses it (unless both definitions are the same).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.compose_extends import Written, resolve_extends, with_extends_file
from reconciler.spec.compose_merge import merge_service, rebase_paths
from reconciler.spec.compose_model import VariableUse
from reconciler.spec.compose_services import value_kind
from reconciler.spec.compose_tags import inherited_paths, without
from reconciler.spec.compose_tree import ComposeSource, ComposeTree, display_of, read_compose_doc
from reconciler.spec.compose_variables import resolve_path, variable_uses
from reconciler.spec.interpolation import Values
from reconciler.spec.source import SourceDoc
from reconciler.spec.stack_paths import service_files
from reconciler.spec.yaml.document import RESET


@dataclass
class Project:
    """A compose project as the reconciler reads it."""

    written: dict[str, SourceDoc] = field(default_factory=dict)  # service -> the document it is written in
    services: dict[str, dict[str, object]] = field(default_factory=dict)  # service -> its resolved mapping
    names: set[str] = field(default_factory=set)  # every service name, resolved or not
    networks: dict[Hashable, object] = field(default_factory=dict)
    volumes: dict[Hashable, object] = field(default_factory=dict)
    uses: list[VariableUse] = field(default_factory=list)
    files: dict[Path, None] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)


def gather(tree: ComposeTree, project_dir: Path, values: Values) -> Project:
    project = Project(files=dict.fromkeys(tree.files), issues=list(tree.issues))
    main = tree.sources[0].doc
    cache: dict[Path, SourceDoc | None] = {}

    def read(path: Path) -> SourceDoc | None:
        if path not in cache:
            project.files[path] = None
            try:
                cache[path] = read_compose_doc(path, display_of(path, main))
            except SpecError as error:
                project.issues.extend(error.issues)
                cache[path] = None
        return cache[path]

    seen: dict[str, dict[str, object]] = {}  # service -> its mapping where first written
    for source in tree.sources:
        given = {**source.env, **values}  # the stack's values win over an include's env files
        written = _written(source, project_dir, project, given)
        for name, (doc, raw) in written.items():
            if name in project.written and seen[name] == raw:
                written[name] = (project.written[name], raw)  # the same definition twice: Compose takes it once
            elif name in project.written:
                first = project.written[name]
                message = (
                    f"service '{name}' is also defined in {first.where(('services', name))}; "
                    "Compose refuses a service defined twice"
                )
                project.issues.append(doc.issue(("services", name), message))
            else:
                project.written[name], seen[name] = doc, raw
        project.names |= set(written)
        extended = resolve_extends(written, project_dir, read, given)
        for name, service in extended.services.items():
            if project.written[name] is written[name][0]:
                project.services[name] = service
                own = service_files(written[name][1])
                project.files.update(dict.fromkeys(_variable_files(service, own, source.workdir, project_dir, given)))
        project.issues.extend(extended.issues)
        for doc in (source.doc, *source.overrides):
            _declarations(doc, project)
            _uses(doc, source, project)
        for doc in extended.docs.values():
            _uses(doc, source, project)
    return project


def _written(source: ComposeSource, project_dir: Path, project: Project, values: Values) -> dict[str, Written]:
    """The services of ``source`` (merged with its overriding files), paths rebased to the project directory."""
    found: dict[str, Written] = {}
    for doc in (source.doc, *source.overrides):
        for loc, (tag, _) in doc.tags.items():
            if doc is not source.doc and tag == RESET and len(loc) == 2 and loc[0] == "services":
                found.pop(str(loc[1]), None)  # a whole service reset by a later file
        data = doc.data
        if not isinstance(data, dict):
            project.issues.append(doc.issue((), "a compose file must be a mapping with a services: section"))
            continue
        services = data.get("services")
        if services is None:
            continue
        if not isinstance(services, dict):
            project.issues.append(doc.issue(("services",), "services must be a mapping of service names"))
            continue
        for name, raw in services.items():
            if not isinstance(raw, dict):
                message = f"service '{name}' must be a mapping, got {value_kind(raw)}"
                project.issues.append(doc.issue(("services", name), message))
                continue
            mapping = rebase_paths(with_extends_file(cast(dict[str, object], raw), values), source.workdir, project_dir)
            key = str(name)
            if key in found:
                inherited = without(found[key][1], inherited_paths(doc, ("services", name)))  # !reset, !override
                found[key] = (found[key][0], merge_service(inherited, mapping))
            else:
                found[key] = (doc, mapping)
    return found


def _variable_files(
    service: dict[str, object], own: list[str], workdir: Path, project_dir: Path, values: Values
) -> list[Path]:
    """The ``env_file`` and ``label_file`` entries of ``service`` that name variables, interpolated with
    ``values``: relative to ``project_dir`` when rebased (a path not starting with a variable), to
    ``workdir`` (where the service is written) when one of its ``own`` starts with one. An entry that
    does not resolve, or inherited from another file and relative, stays as written (its ``$``
    keeps the validate cache from keying it)."""
    out: list[Path] = []
    for entry in service_files(service):
        if "$" not in entry:
            continue
        resolved, why = resolve_path(entry, values)
        path = Path(os.path.expanduser(resolved))
        if why or not (path.is_absolute() or not entry.startswith("$") or entry in own):
            out.append(Path(entry))
        elif path.is_absolute():
            out.append(Path(os.path.normpath(path)))
        else:
            out.append(Path(os.path.normpath((workdir if entry.startswith("$") else project_dir) / path)))
    return out


def _declarations(doc: SourceDoc, project: Project) -> None:
    """The top-level ``networks`` and ``volumes`` of ``doc`` (the first declaration of a name stays)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    for key, into in (("networks", project.networks), ("volumes", project.volumes)):
        declared = data.get(key) or {}
        if not isinstance(declared, dict):
            project.issues.append(doc.issue((key,), f"top-level {key} must be a mapping"))
            continue
        for name, value in declared.items():
            into.setdefault(name, value)


def _uses(doc: SourceDoc, source: ComposeSource, project: Project) -> None:
    """The variable references of ``doc``, which Compose interpolates with ``source``'s env values."""
    uses, issues = variable_uses(doc)
    main = doc is source.doc and not source.included_at
    env = tuple(sorted(source.env.items()))
    project.uses.extend(u if main else replace(u, file=doc.display, env=env) for u in uses)
    project.issues.extend(issues)

