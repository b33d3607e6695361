"""Read one service of a compose file: its variables, dependencies, networks and volumes. Pure.

:func:`read_service` builds a :class:`~reconciler.spec.compose_model.ComposeService` from the
service's mapping and what the file declares at the top level (:class:`FileDeclarations`), and
returns the issues found with it, in the order: interpolation, ``depends_on`` (list or mapping
form; unknown services, bad conditions, ``service_healthy`` on a service without a
healthcheck), networks, named volumes (undefined ones).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from reconciler.core.errors import SpecIssue
from reconciler.core.model import Dependency
from reconciler.spec.compose_model import CONDITIONS, DEFAULT_NETWORK, ComposeService
from reconciler.spec.interpolation import InterpolationError, variables_in
from reconciler.spec.source import Loc, SourceDoc


@dataclass(frozen=True)
class FileDeclarations:
    """What the compose file declares that its services refer to."""

    services: frozenset[Hashable]  # every key of the services mapping
    healthy: Mapping[str, bool]  # service -> whether it has a healthcheck
    networks: Mapping[Hashable, object]  # the top-level networks
    volumes: Mapping[Hashable, object]  # the top-level volumes


def read_service(
    doc: SourceDoc, name: str, raw: Mapping[str, object], declared: FileDeclarations
) -> tuple[ComposeService, list[SpecIssue]]:
    """The service ``name`` of the compose file ``doc``, and the issues found with it."""
    loc: Loc = ("services", name)
    variables, variable_issues = _variables(doc, loc, raw)
    depends_on, dependency_issues = _depends_on(doc, loc, raw, declared)
    networks, network_issues = _networks(doc, loc, raw, declared.networks)
    volumes, volume_issues = _volumes(doc, loc, raw, declared.volumes)
    service = ComposeService(
        name=name,
        raw=raw,
        line=doc.line_of(loc),
        variables=variables,
        depends_on=depends_on,
        healthcheck=declared.healthy[name],
        networks=networks,
        volumes=volumes,
        display=doc.display,
        profiles=_profiles(raw.get("profiles")),
    )
    return service, [*variable_issues, *dependency_issues, *network_issues, *volume_issues]


def _profiles(value: object) -> tuple[str, ...]:
    return tuple(str(p) for p in value) if isinstance(value, list) else ()


def has_healthcheck(raw: Mapping[str, object]) -> bool:
    check = raw.get("healthcheck")
    if not isinstance(check, dict):
        return False
    if check.get("disable") is True:
        return False
    test = check.get("test")
    return not (test == "NONE" or (isinstance(test, list) and test[:1] == ["NONE"]))


def value_kind(value: object) -> str:
    """What a YAML value is, for a message: ``a list``, ``a number``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _variables(doc: SourceDoc, loc: Loc, raw: Mapping[str, object]) -> tuple[tuple[str, ...], list[SpecIssue]]:
    names: set[str] = set()
    issues: list[SpecIssue] = []
    for where, text in walk_strings(raw, loc):
        try:
            names |= variables_in(text)
        except InterpolationError as error:
            issues.append(doc.issue(where, str(error)))
    return tuple(sorted(names)), issues


def walk_strings(value: object, loc: Loc) -> list[tuple[Loc, str]]:
    """Every string value under ``value`` (never a key: Compose interpolates values only) and where."""
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in walk_strings(v, (*loc, k))]
    if isinstance(value, list):
        return [found for i, v in enumerate(value) for found in walk_strings(v, (*loc, i))]
    return []


def _depends_on(
    doc: SourceDoc, loc: Loc, raw: Mapping[str, object], declared: FileDeclarations
) -> tuple[tuple[Dependency, ...], list[SpecIssue]]:
    entries, issues = _dependency_entries(doc, (*loc, "depends_on"), raw.get("depends_on"))
    checked = [_dependency(doc, where, dep, condition, declared) for where, dep, condition in entries]
    deps = {dep.service: dep for dep in checked if isinstance(dep, Dependency)}
    return tuple(deps[k] for k in sorted(deps)), [*issues, *(i for i in checked if isinstance(i, SpecIssue))]


def _dependency_entries(
    doc: SourceDoc, loc: Loc, spec: object
) -> tuple[list[tuple[Loc, object, object]], list[SpecIssue]]:
    """The (where, service, condition) of each entry of ``depends_on`` (list or mapping form)."""
    if spec is None:
        return [], []
    if isinstance(spec, list):
        return [((*loc, i), item, "service_started") for i, item in enumerate(spec)], []
    if not isinstance(spec, dict):
        return [], [doc.issue(loc, "depends_on must be a list of services or a mapping of service -> {condition}")]
    entries = [
        ((*loc, dep), dep, (opts or {}).get("condition", "service_started"))
        for dep, opts in spec.items()
        if opts is None or isinstance(opts, dict)
    ]
    issues = [
        doc.issue((*loc, dep), f"depends_on.{dep} must be a mapping like {{condition: service_started}}")
        for dep, opts in spec.items()
        if not (opts is None or isinstance(opts, dict))
    ]
    return entries, issues


def _dependency(
    doc: SourceDoc, where: Loc, dep: object, condition: object, declared: FileDeclarations
) -> Dependency | SpecIssue:
    """The dependency an entry of ``depends_on`` says, or the issue with it."""
    if not isinstance(dep, str):
        return doc.issue(where, f"depends_on entries must be service names, got {value_kind(dep)}")
    if dep not in declared.services:
        known = ", ".join(sorted(map(str, declared.services)))
        return doc.issue(where, f"depends on unknown service '{dep}' (services: {known})")
    if condition not in CONDITIONS:
        return doc.issue(
            (*where, "condition") if isinstance(where[-1], str) else where,
            f"condition {condition!r} is not one of {', '.join(CONDITIONS)}",
        )
    if condition == "service_healthy" and dep in declared.healthy and not declared.healthy[dep]:
        return doc.issue(
            where,
            f"condition service_healthy, but service '{dep}' has no healthcheck in the compose file; "
            f"add one to '{dep}' (an image's own HEALTHCHECK is not visible here)",
        )
    return Dependency(dep, condition)


def _networks(
    doc: SourceDoc, loc: Loc, raw: Mapping[str, object], declared: Mapping[Hashable, object]
) -> tuple[tuple[str, ...], list[SpecIssue]]:
    if "network_mode" in raw:
        return (), []
    spec = raw.get("networks")
    names: list[tuple[Loc, object]]
    if spec is None or spec == [] or spec == {}:
        return (DEFAULT_NETWORK,), []
    if isinstance(spec, list):
        names = [((*loc, "networks", i), n) for i, n in enumerate(spec)]
    elif isinstance(spec, dict):
        names = [((*loc, "networks", n), n) for n in spec]
    else:
        return (), [doc.issue((*loc, "networks"), "networks must be a list or a mapping of network names")]
    problems = [(where, name, _network_problem(name, declared)) for where, name in names]
    issues = [doc.issue(where, problem) for where, _, problem in problems if problem]
    return tuple(sorted({str(name) for _, name, problem in problems if not problem})), issues


def _network_problem(name: object, declared: Mapping[Hashable, object]) -> str | None:
    if not isinstance(name, str):
        return f"a network name must be a string, got {value_kind(name)}"
    if name != DEFAULT_NETWORK and name not in declared:
        return f"undefined network '{name}': declare it under the top-level networks:"
    return None


def _volumes(
    doc: SourceDoc, loc: Loc, raw: Mapping[str, object], declared: Mapping[Hashable, object]
) -> tuple[tuple[str, ...], list[SpecIssue]]:
    spec = raw.get("volumes")
    if not isinstance(spec, list):
        return (), []
    sources = [((*loc, "volumes", i), source) for i, entry in enumerate(spec) if (source := _volume_source(entry))]
    issues = [
        doc.issue(
            where,
            f"undefined volume '{source}': declare it under the top-level volumes: "
            "(or use a path starting with ./ for a bind mount)",
        )
        for where, source in sources
        if source not in declared
    ]
    return tuple(sorted({source for _, source in sources if source in declared})), issues


def _volume_source(entry: object) -> str | None:
    """The named-volume key a service volume entry uses, or None (bind mount, anonymous, tmpfs)."""
    if isinstance(entry, str):
        parts = entry.split(":")
        if len(parts) < 2:
            return None  # anonymous volume: a container path only
        source = parts[0]
    elif isinstance(entry, dict):
        if entry.get("type", "volume") != "volume":
            return None
        src = entry.get("source")
        if not isinstance(src, str):
            return None
        source = src
    else:
        return None
    if not source or source.startswith(("/", ".", "~", "$")) or "\\" in source:
        return None
    return source
