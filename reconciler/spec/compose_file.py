"""Read a stack's compose file for what the reconciler needs to know. Pure apart from reading the file.

The compose file stays the user's standard, unchanged file: Docker Compose v2
runs it. This module only reads it, to learn per service the raw mapping
(hashed into the config hash), the variables it interpolates (compose syntax:
``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+replacement}``,
``${VAR+replacement}``, nested inside defaults; ``$$`` is a literal ``$``),
its ``depends_on`` (list or mapping form), whether it has a healthcheck, and
the networks and named volumes it uses; and to reject what Compose would
reject or what would make a plan fail: no ``services`` mapping, unknown or
cyclic dependencies, bad conditions, ``service_healthy`` on a service
without a healthcheck, undefined networks/volumes, invalid interpolation.
All problems are raised together as one :class:`~reconciler.core.errors.SpecError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.core.model import Dependency
from reconciler.spec.source import SourceDoc, read_yaml

Condition = Literal["service_started", "service_healthy", "service_completed_successfully"]
CONDITIONS: tuple[Condition, ...] = ("service_started", "service_healthy", "service_completed_successfully")
DEFAULT_NETWORK = "default"

_NAME_RE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class InterpolationError(ValueError):
    """A string Compose would reject as an invalid interpolation format."""


def _scan(text: str, start: int, names: set[str], nested: bool) -> int:
    """Collect variable names from ``text[start:]``; return the index where scanning stopped.

    With ``nested`` the scan stops at the first unmatched ``}`` (the end of a
    ``${VAR:-...}`` default) and returns its index."""
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if nested and c == "}":
            return i
        if c != "$":
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            i += 2
            continue
        if nxt == "{":
            match = _NAME_RE.match(text, i + 2)
            if match is None:
                raise InterpolationError(
                    f"invalid interpolation format in {text!r}: '${{' must be followed by a name"
                )
            names.add(match.group())
            j = match.end()
            if j < n and text[j] == "}":
                i = j + 1
                continue
            if text.startswith((":-", ":?", ":+"), j):
                j += 2
            elif j < n and text[j] in "-?+":
                j += 1
            else:
                raise InterpolationError(
                    f"invalid interpolation format in {text!r}: expected '}}' or one of :- - :? ? :+ + "
                    f"after '${{{match.group()}'"
                )
            end = _scan(text, j, names, nested=True)
            if end >= n:
                raise InterpolationError(f"invalid interpolation format in {text!r}: missing '}}'")
            i = end + 1
            continue
        match = _NAME_RE.match(text, i + 1)
        if match is not None:
            names.add(match.group())
            i = match.end()
        else:
            i += 1  # a lone '$' stays literal, as in Compose
    return i


def variables_in(text: str) -> set[str]:
    """Names of the variables ``text`` interpolates (compose syntax). Pure.

    Raises InterpolationError for what Compose rejects (``${``, ``${1}``, ``${A`` ...)."""
    names: set[str] = set()
    _scan(text, 0, names, nested=False)
    return names


def canonical_json(value: object) -> str:
    """Canonical JSON text: sorted keys, compact separators."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ComposeService:
    name: str
    raw: Mapping[str, object]  # the service mapping, plain data, before interpolation
    line: int
    variables: tuple[str, ...] = ()  # sorted
    depends_on: tuple[Dependency, ...] = ()  # sorted by service
    healthcheck: bool = False
    networks: tuple[str, ...] = ()  # keys, sorted ("default" when the service names none)
    volumes: tuple[str, ...] = ()  # named volume keys, sorted

    @property
    def definition(self) -> str:
        return canonical_json(self.raw)


@dataclass(frozen=True)
class ComposeModel:
    path: Path
    display: str
    services: Mapping[str, ComposeService] = field(default_factory=dict)
    networks: tuple[str, ...] = ()  # used by some service and not external, sorted
    volumes: tuple[str, ...] = ()  # named volumes used by some service and not external, sorted


def _external(decl: object) -> bool:
    return isinstance(decl, dict) and bool(decl.get("external"))


def _walk_strings(value: object, loc: tuple[Hashable, ...]) -> list[tuple[tuple[Hashable, ...], str]]:
    out: list[tuple[tuple[Hashable, ...], str]] = []
    if isinstance(value, str):
        out.append((loc, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(_walk_strings(v, (*loc, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_walk_strings(v, (*loc, i)))
    return out


def _has_healthcheck(raw: Mapping[str, object]) -> bool:
    check = raw.get("healthcheck")
    if not isinstance(check, dict):
        return False
    if check.get("disable") is True:
        return False
    test = check.get("test")
    return not (test == "NONE" or (isinstance(test, list) and test[:1] == ["NONE"]))


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


class _Parser:
    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.issues: list[SpecIssue] = []

    def issue(self, loc: tuple[Hashable, ...], message: str) -> None:
        self.issues.append(self.doc.issue(loc, message))

    def parse(self) -> ComposeModel:
        data = self.doc.data
        if not isinstance(data, dict):
            self.issue((), "a compose file must be a mapping with a services: section")
            raise SpecError(self.issues)
        services_raw = data.get("services")
        if not isinstance(services_raw, dict) or not services_raw:
            self.issue(
                ("services",) if "services" in data else (), "a compose file needs a services: mapping"
            )
            raise SpecError(self.issues)
        top_networks = data.get("networks") or {}
        top_volumes = data.get("volumes") or {}
        if not isinstance(top_networks, dict):
            self.issue(("networks",), "top-level networks must be a mapping")
            top_networks = {}
        if not isinstance(top_volumes, dict):
            self.issue(("volumes",), "top-level volumes must be a mapping")
            top_volumes = {}

        raws: dict[str, dict[str, object]] = {}
        for name, raw in services_raw.items():
            if not isinstance(raw, dict):
                self.issue(("services", name), f"service '{name}' must be a mapping, got {_kind(raw)}")
                continue
            raws[str(name)] = cast(dict[str, object], raw)
        healthy = {name: _has_healthcheck(raw) for name, raw in raws.items()}

        services: dict[str, ComposeService] = {}
        for name in sorted(raws):
            raw = raws[name]
            loc: tuple[Hashable, ...] = ("services", name)
            services[name] = ComposeService(
                name=name,
                raw=raw,
                line=self.doc.line_of(loc),
                variables=self._variables(loc, raw),
                depends_on=self._depends_on(loc, raw, set(services_raw), healthy),
                healthcheck=healthy[name],
                networks=self._networks(loc, raw, top_networks),
                volumes=self._volumes(loc, raw, top_volumes),
            )
        self._cycles(services)
        if self.issues:
            raise SpecError(self.issues)
        used_networks = {n for s in services.values() for n in s.networks}
        used_volumes = {v for s in services.values() for v in s.volumes}
        return ComposeModel(
            path=self.doc.path,
            display=self.doc.display,
            services=services,
            networks=tuple(sorted(n for n in used_networks if not _external(top_networks.get(n)))),
            volumes=tuple(sorted(v for v in used_volumes if not _external(top_volumes.get(v)))),
        )

    def _variables(self, loc: tuple[Hashable, ...], raw: Mapping[str, object]) -> tuple[str, ...]:
        names: set[str] = set()
        for where, text in _walk_strings(raw, loc):
            try:
                names |= variables_in(text)
            except InterpolationError as error:
                self.issue(where, str(error))
        return tuple(sorted(names))

    def _depends_on(
        self,
        loc: tuple[Hashable, ...],
        raw: Mapping[str, object],
        known: set[Hashable],
        healthy: Mapping[str, bool],
    ) -> tuple[Dependency, ...]:
        spec = raw.get("depends_on")
        loc = (*loc, "depends_on")
        entries: list[tuple[tuple[Hashable, ...], object, object]] = []  # (loc, service, condition)
        if spec is None:
            return ()
        if isinstance(spec, list):
            for i, item in enumerate(spec):
                entries.append(((*loc, i), item, "service_started"))
        elif isinstance(spec, dict):
            for dep, opts in spec.items():
                if opts is None:
                    opts = {}
                if not isinstance(opts, dict):
                    self.issue(
                        (*loc, dep), f"depends_on.{dep} must be a mapping like {{condition: service_started}}"
                    )
                    continue
                entries.append(((*loc, dep), dep, opts.get("condition", "service_started")))
        else:
            self.issue(loc, "depends_on must be a list of services or a mapping of service -> {condition}")
            return ()
        deps: dict[str, Dependency] = {}
        for where, dep, condition in entries:
            if not isinstance(dep, str):
                self.issue(where, f"depends_on entries must be service names, got {_kind(dep)}")
                continue
            if dep not in known:
                self.issue(
                    where,
                    f"depends on unknown service '{dep}' (services: {', '.join(sorted(map(str, known)))})",
                )
                continue
            if condition not in CONDITIONS:
                self.issue(
                    (*where, "condition") if isinstance(where[-1], str) else where,
                    f"condition {condition!r} is not one of {', '.join(CONDITIONS)}",
                )
                continue
            if condition == "service_healthy" and dep in healthy and not healthy[dep]:
                self.issue(
                    where,
                    f"condition service_healthy, but service '{dep}' has no healthcheck in the compose file; "
                    f"add one to '{dep}' (an image's own HEALTHCHECK is not visible here)",
                )
                continue
            deps[dep] = Dependency(dep, condition)
        return tuple(deps[k] for k in sorted(deps))

    def _networks(
        self, loc: tuple[Hashable, ...], raw: Mapping[str, object], declared: Mapping[Hashable, object]
    ) -> tuple[str, ...]:
        if "network_mode" in raw:
            return ()
        spec = raw.get("networks")
        names: list[tuple[tuple[Hashable, ...], object]]
        if spec is None or spec == [] or spec == {}:
            return (DEFAULT_NETWORK,)
        if isinstance(spec, list):
            names = [((*loc, "networks", i), n) for i, n in enumerate(spec)]
        elif isinstance(spec, dict):
            names = [((*loc, "networks", n), n) for n in spec]
        else:
            self.issue((*loc, "networks"), "networks must be a list or a mapping of network names")
            return ()
        out: set[str] = set()
        for where, name in names:
            if not isinstance(name, str):
                self.issue(where, f"a network name must be a string, got {_kind(name)}")
            elif name != DEFAULT_NETWORK and name not in declared:
                self.issue(where, f"undefined network '{name}': declare it under the top-level networks:")
            else:
                out.add(name)
        return tuple(sorted(out))

    def _volumes(
        self, loc: tuple[Hashable, ...], raw: Mapping[str, object], declared: Mapping[Hashable, object]
    ) -> tuple[str, ...]:
        spec = raw.get("volumes")
        if not isinstance(spec, list):
            return ()
        out: set[str] = set()
        for i, entry in enumerate(spec):
            source = _volume_source(entry)
            if source is None:
                continue
            if source not in declared:
                self.issue(
                    (*loc, "volumes", i),
                    f"undefined volume '{source}': declare it under the top-level volumes: "
                    "(or use a path starting with ./ for a bind mount)",
                )
                continue
            out.add(source)
        return tuple(sorted(out))

    def _cycles(self, services: Mapping[str, ComposeService]) -> None:
        graph = {name: [d.service for d in s.depends_on] for name, s in services.items()}
        seen_cycles: set[frozenset[str]] = set()
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in graph.get(node, []):
                if state.get(nxt) == 1:
                    cycle = stack[stack.index(nxt) :]
                    key = frozenset(cycle)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        path = " -> ".join([*cycle, nxt])
                        self.issue(("services", node, "depends_on"), f"dependency cycle: {path}")
                elif nxt not in state:
                    visit(nxt, stack)
            stack.pop()
            state[node] = 2

        for name in sorted(graph):
            if name not in state:
                visit(name, [])


def _kind(value: object) -> str:
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
    return _Parser(docs[0]).parse()


def load_compose(path: Path, display: str) -> ComposeModel:
    """Read and check the compose file at ``path`` (``display`` names it in messages). Raises SpecError."""
    if not path.is_file():
        raise SpecError([SpecIssue(display, None, "", "compose file not found")])
    return parse_compose(read_yaml(path, display, strict=False), path, display)
