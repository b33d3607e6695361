"""Read a stack's compose file for what the reconciler needs to know. Pure apart from reading the file.

The compose file stays the user's standard, unchanged file: Docker Compose v2
runs it. This module only reads it, into a :class:`~reconciler.spec.compose_model.ComposeModel`:
per service the raw mapping (hashed into the config hash), the variables it interpolates
(:mod:`reconciler.spec.interpolation`), its ``depends_on`` (list or mapping form), whether it
has a healthcheck, and the networks and named volumes it uses
(:mod:`reconciler.spec.compose_services` reads one service), and every variable reference of
the file with its line (:mod:`reconciler.spec.compose_variables`); and it rejects what Compose would
reject or what would make a plan fail: no ``services`` mapping, unknown or cyclic
dependencies, bad conditions, ``service_healthy`` on a service without a healthcheck,
undefined networks/volumes, invalid interpolation. All problems are raised together as one
:class:`~reconciler.core.errors.SpecError`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import cast

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.compose_model import ComposeModel, ComposeService
from reconciler.spec.compose_services import FileDeclarations, has_healthcheck, read_service, value_kind
from reconciler.spec.compose_variables import variable_uses
from reconciler.spec.source import SourceDoc, read_yaml


def load_compose(path: Path, display: str) -> ComposeModel:
    """Read and check the compose file at ``path`` (``display`` names it in messages). Raises SpecError."""
    if not path.is_file():
        raise SpecError([SpecIssue(display, None, "", "compose file not found")])
    return parse_compose(read_yaml(path, display, strict=False), path, display)


def parse_compose(docs: tuple[SourceDoc, ...], path: Path, display: str) -> ComposeModel:
    """Build the ComposeModel from the parsed documents of a compose file. Pure. Raises SpecError."""
    if not docs:
        raise SpecError(
            [SpecIssue(display, None, "", "the compose file is empty; it needs a services: mapping")]
        )
    if len(docs) > 1:
        raise SpecError(
            [SpecIssue(display, docs[1].line, "", "a compose file must hold a single YAML document")]
        )
    return _model(docs[0])


def _model(doc: SourceDoc) -> ComposeModel:
    data = doc.data
    if not isinstance(data, dict):
        raise SpecError([doc.issue((), "a compose file must be a mapping with a services: section")])
    services_raw = data.get("services")
    if not isinstance(services_raw, dict) or not services_raw:
        loc = ("services",) if "services" in data else ()
        raise SpecError([doc.issue(loc, "a compose file needs a services: mapping")])
    networks, network_issues = _top_level(doc, data, "networks")
    volumes, volume_issues = _top_level(doc, data, "volumes")
    raws, raw_issues = _service_mappings(doc, services_raw)
    healthy = {name: has_healthcheck(raw) for name, raw in raws.items()}
    declared = FileDeclarations(frozenset(services_raw), healthy, networks, volumes)
    read = [read_service(doc, name, raws[name], declared) for name in sorted(raws)]
    services = {service.name: service for service, _ in read}
    uses, use_issues = variable_uses(doc)
    issues = [
        *network_issues,
        *volume_issues,
        *raw_issues,
        *use_issues,
        *(issue for _, service_issues in read for issue in service_issues),
        *_cycle_issues(doc, services),
    ]
    if issues:
        raise SpecError(issues)
    used_networks = {n for s in services.values() for n in s.networks}
    used_volumes = {v for s in services.values() for v in s.volumes}
    return ComposeModel(
        path=doc.path,
        display=doc.display,
        services=services,
        networks=tuple(sorted(n for n in used_networks if not _external(networks.get(n)))),
        volumes=tuple(sorted(v for v in used_volumes if not _external(volumes.get(v)))),
        uses=uses,
    )


def _top_level(
    doc: SourceDoc, data: Mapping[Hashable, object], key: str
) -> tuple[Mapping[Hashable, object], list[SpecIssue]]:
    """The top-level ``networks`` or ``volumes`` declarations (empty when absent or not a mapping)."""
    declared = data.get(key) or {}
    if not isinstance(declared, dict):
        return {}, [doc.issue((key,), f"top-level {key} must be a mapping")]
    return declared, []


def _service_mappings(
    doc: SourceDoc, services: Mapping[Hashable, object]
) -> tuple[dict[str, dict[str, object]], list[SpecIssue]]:
    """Service name -> its mapping, for the services that are mappings; an issue for each other one."""
    raws = {str(name): cast(dict[str, object], raw) for name, raw in services.items() if isinstance(raw, dict)}
    issues = [
        doc.issue(("services", name), f"service '{name}' must be a mapping, got {value_kind(raw)}")
        for name, raw in services.items()
        if not isinstance(raw, dict)
    ]
    return raws, issues


def _external(decl: object) -> bool:
    return isinstance(decl, dict) and bool(decl.get("external"))


def _cycle_issues(doc: SourceDoc, services: Mapping[str, ComposeService]) -> list[SpecIssue]:
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
                cycles.setdefault(frozenset(cycle), doc.issue(("services", node, "depends_on"), message))
            elif nxt not in state:
                visit(nxt, on_path)
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, ())
    return list(cycles.values())
