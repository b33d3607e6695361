"""Resolve ``extends`` in a compose project's services, as Compose does. Pure apart from reading files.

A service with ``extends: other`` (or ``extends: {service: other}``) starts from ``other`` of the
same file; with ``extends: {file: base.yaml, service: web}`` from ``web`` of ``base.yaml``, a path
relative to the extending file's working directory, read with the compose file's limits and symlink
rules. The base is resolved first (chains of any length), its relative paths meaning its own
folder, then the service is merged onto it (:func:`~reconciler.spec.compose_merge.merge_service`)
and loses its ``extends``; what the service tags ``!reset`` or ``!override`` is first deleted from
the base (:mod:`reconciler.spec.compose_tags`). Only the named service is taken from another file
(not its networks or volumes), but Compose interpolates that whole file, so its variable references
count (:attr:`Extended.docs`). An ``extends`` file naming variables is interpolated with the values
validate knows (:func:`with_extends_file`, before its paths are rebased). A missing file or service,
a variable that does not resolve and a cycle are issues at the ``extends`` line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import SpecIssue
from reconciler.spec.compose_merge import merge_service, rebase_paths
from reconciler.spec.compose_tags import inherited_paths, without
from reconciler.spec.compose_tree import missing_file_problem
from reconciler.spec.compose_variables import resolve_path
from reconciler.spec.interpolation import Values
from reconciler.spec.source import Loc, SourceDoc, real_path

#: A service as written: the document it is in and its mapping, relative paths meaning the project directory.
Written = tuple[SourceDoc, dict[str, object]]
ReadDoc = Callable[[Path], SourceDoc | None]


@dataclass
class Extended:
    """What resolving ``extends`` found: the merged services, the extended files it read, the issues."""

    services: dict[str, dict[str, object]] = field(default_factory=dict)
    docs: dict[Path, SourceDoc] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)


class _Resolver:
    def __init__(self, project_dir: Path, read: ReadDoc, values: Values) -> None:
        self.project_dir = project_dir
        self.read = read
        self.values = values
        self.found = Extended()
        self.cycles: set[frozenset[tuple[Path, str]]] = set()  # reported once each

    def service(
        self, name: str, siblings: Mapping[str, Written], chain: tuple[tuple[Path, str], ...]
    ) -> dict[str, object] | None:
        doc, raw = siblings[name]
        extends = raw.get("extends")
        if extends is None:
            return raw
        loc: Loc = ("services", name, "extends")
        target = _target(extends)
        if isinstance(target, str):
            self.found.issues.append(doc.issue(loc, target))
            return None
        ref, file = target
        base_siblings = siblings if file is None else self.file_services(doc, loc, file)
        if base_siblings is None:
            return None
        if ref not in base_siblings:
            where = f" in {file}" if file is not None else ""
            known = ", ".join(sorted(base_siblings)) or "none"
            message = f"extends service '{ref}'{where}, which is not a service there (services: {known})"
            self.found.issues.append(doc.issue(loc, message))
            return None
        key = (base_siblings[ref][0].path, ref)
        if key in chain:
            cycle = (*chain[chain.index(key) :], key)
            if frozenset(cycle) not in self.cycles:
                self.cycles.add(frozenset(cycle))
                names = [f"{service} ({path.name})" for path, service in cycle]
                self.found.issues.append(doc.issue(loc, f"extends cycle: {' -> '.join(names)}"))
            return None
        base = self.service(ref, base_siblings, (*chain, key))
        if base is None:
            return None
        inherited = without(base, inherited_paths(doc, ("services", name)))  # !reset, !override
        merged = merge_service(inherited, {k: v for k, v in raw.items() if k != "extends"})
        merged.pop("extends", None)
        return merged

    def file_services(self, doc: SourceDoc, loc: Loc, file: str) -> Mapping[str, Written] | None:
        if "$" in file:
            resolved, why = resolve_path(file, self.values)
            if why:
                self.found.issues.append(doc.issue((*loc, "file"), f"extends file '{file}' {why}"))
                return None
            file = resolved
        path = Path(os.path.normpath(self.project_dir / os.path.expanduser(file)))
        problem = missing_file_problem(path)
        if problem:
            self.found.issues.append(doc.issue((*loc, "file"), f"extends file '{file}' {problem} ({path})"))
            return None
        base = self.read(real_path(path))
        if base is None:
            return None
        self.found.docs[base.path] = base
        services = base.data.get("services") if isinstance(base.data, dict) else None
        if not isinstance(services, dict):
            self.found.issues.append(doc.issue((*loc, "file"), f"extends file '{file}' has no services: mapping"))
            return None
        return {
            str(n): (base, rebase_paths(with_extends_file(s, self.values), path.parent, self.project_dir))
            for n, s in services.items()
            if isinstance(s, dict)
        }


def with_extends_file(raw: dict[str, object], values: Values) -> dict[str, object]:
    """``raw`` with the variables of its ``extends`` file interpolated when ``values`` resolve them
    (``$`` of the result written ``$$``, so that it is read once), before its paths are rebased."""
    extends = raw.get("extends")
    file = extends.get("file") if isinstance(extends, dict) else None
    if not isinstance(extends, dict) or not isinstance(file, str) or "$" not in file:
        return raw
    resolved, why = resolve_path(file, values)
    return raw if why else {**raw, "extends": {**extends, "file": resolved.replace("$", "$$")}}


def _target(extends: object) -> tuple[str, str | None] | str:
    """(service, file or None) that ``extends`` names, or what is wrong with it."""
    if isinstance(extends, str):
        return extends, None
    if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
        return "extends names a service: extends: other, or extends: {file: base.yaml, service: other}"
    file = extends.get("file")
    if file is not None and not isinstance(file, str):
        return "extends file must be a path"
    return str(extends["service"]), file


def resolve_extends(services: Mapping[str, Written], project_dir: Path, read: ReadDoc, values: Values) -> Extended:
    """Every service of ``services`` with its ``extends`` resolved (a service whose ``extends``
    cannot be resolved is left out, with an issue); ``values`` are those an ``extends`` file may name."""
    resolver = _Resolver(project_dir, read, values)
    for name in services:
        merged = resolver.service(name, services, ((services[name][0].path, name),))
        if merged is not None:
            resolver.found.services[name] = merged
    return resolver.found
