"""Read a stack's compose file for what the reconciler needs to know. Pure apart from reading the files.

The compose file stays the user's standard, unchanged file: Docker Compose v2
runs it. This module only reads it, with the files it includes and extends
(:mod:`reconciler.spec.compose_tree`, :mod:`reconciler.spec.compose_project`), into a
:class:`~reconciler.spec.compose_model.ComposeModel`: per service the resolved mapping (hashed
into the config hash), the variables it interpolates (:mod:`reconciler.spec.interpolation`),
its ``depends_on`` (list or mapping form), whether it has a healthcheck, and the networks and
named volumes it uses (:mod:`reconciler.spec.compose_services` reads one service), every
variable reference of every file with its line (:mod:`reconciler.spec.compose_variables`), and
every file read; and it rejects what Compose would reject or what would make a plan fail: no
service, an include or extends it cannot follow, unknown or cyclic dependencies, bad
conditions, ``service_healthy`` on a service without a healthcheck, undefined
networks/volumes, invalid interpolation. All problems are raised together as one
:class:`~reconciler.core.errors.SpecError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.compose_model import ComposeModel, ComposeService, VariableUse
from reconciler.spec.compose_project import Project, gather
from reconciler.spec.compose_services import FileDeclarations, has_healthcheck, read_service
from reconciler.spec.compose_tree import read_tree, single_document
from reconciler.spec.interpolation import Values
from reconciler.spec.source import SourceDoc, read_yaml


def load_compose(
    path: Path, display: str, project_dir: Path | None = None, values: Values | None = None
) -> ComposeModel:
    """Read and check the compose file at ``path`` (``display`` names it in messages) of a stack whose
    project directory is ``project_dir`` (default: the file's folder) and whose include, extends and
    env_file paths may name ``values`` (default: none). Raises SpecError."""
    if not path.is_file():
        raise SpecError([SpecIssue(display, None, "", "compose file not found")])
    return parse_compose(read_yaml(path, display, strict=False), path, display, project_dir, values)


def parse_compose(
    docs: tuple[SourceDoc, ...],
    path: Path,
    display: str,
    project_dir: Path | None = None,
    values: Values | None = None,
) -> ComposeModel:
    """Build the ComposeModel from the parsed documents of a compose file, reading the files it
    includes and extends. Raises SpecError."""
    main = single_document(docs, display)
    data = main.data
    if not isinstance(data, dict):
        raise SpecError([main.issue((), "a compose file must be a mapping with a services: section")])
    services = data.get("services")
    if "include" not in data and (not isinstance(services, dict) or not services):
        loc = ("services",) if "services" in data else ()
        raise SpecError([main.issue(loc, "a compose file needs a services: mapping")])
    workdir = project_dir or path.parent
    given = values or {}
    return _model(main, gather(read_tree(main, workdir, given), workdir, given))


def _model(main: SourceDoc, project: Project) -> ComposeModel:
    if not project.names and not project.issues:
        raise SpecError([main.issue(("include",), "no services: neither this file nor the files it includes "
                                                  "define one")])  # fmt: skip
    healthy = {name: has_healthcheck(raw) for name, raw in project.services.items()}
    declared = FileDeclarations(frozenset(project.names), healthy, project.networks, project.volumes)
    read = [
        read_service(project.written[name], name, project.services[name], declared)
        for name in sorted(project.services)
    ]
    services = {service.name: service for service, _ in read}
    issues = [
        *project.issues,
        *(issue for _, service_issues in read for issue in service_issues),
        *_cycle_issues(project.written, services),
    ]
    if issues:
        raise SpecError(list(dict.fromkeys(issues)))
    used_networks = {n for s in services.values() for n in s.networks}
    used_volumes = {v for s in services.values() for v in s.volumes}
    return ComposeModel(
        path=main.path,
        display=main.display,
        services=services,
        networks=tuple(sorted(n for n in used_networks if not _external(project.networks.get(n)))),
        volumes=tuple(sorted(v for v in used_volumes if not _external(project.volumes.get(v)))),
        uses=_unique(project.uses),
        files=tuple(project.files),
    )


def _unique(uses: list[VariableUse]) -> tuple[VariableUse, ...]:
    """Each reference once per file and line (an extended file read for two services, say)."""
    return tuple({(u.file, u.line, u.reference, u.field): u for u in uses}.values())


def _external(decl: object) -> bool:
    return isinstance(decl, dict) and bool(decl.get("external"))


def _cycle_issues(written: Mapping[str, SourceDoc], services: Mapping[str, ComposeService]) -> list[SpecIssue]:
    """One issue per dependency cycle, at the service whose dependency closes it."""
    graph = {name: [d.service for d in s.depends_on] for name, s in services.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: dict[frozenset[str], SpecIssue] = {}  # the services of a cycle -> its issue, first found first

    def visit(node: str, path: tuple[str, ...]) -> None:
        state[node] = 1
        on_path = (*path, node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = on_path[on_path.index(nxt) :]
                message = f"dependency cycle: {' -> '.join([*cycle, nxt])}"
                issue = written[node].issue(("services", node, "depends_on"), message)
                cycles.setdefault(frozenset(cycle), issue)
            elif nxt not in state:
                visit(nxt, on_path)
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, ())
    return list(cycles.values())


__all__ = ["load_compose", "parse_compose"]
