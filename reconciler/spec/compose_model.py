"""What the reconciler knows of a stack's compose file: per service, its mapping and what it uses. Pure.

:class:`ComposeModel` is built by :func:`reconciler.spec.compose_file.parse_compose`; the
planner and the renderers work from it (through :mod:`reconciler.spec.desired`), never from
the file itself. A service's :attr:`ComposeService.definition` is the canonical JSON text of
its mapping before interpolation (``extends`` resolved, relative paths meaning the project
directory), hashed into the config hash. A project spans the files the compose file includes
and extends: a service carries the file it is written in (:attr:`ComposeService.display`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reconciler.core.model import Dependency
from reconciler.spec.interpolation import Reference

Condition = Literal["service_started", "service_healthy", "service_completed_successfully"]
CONDITIONS: tuple[Condition, ...] = ("service_started", "service_healthy", "service_completed_successfully")
DEFAULT_NETWORK = "default"


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
    display: str = ""  # the file it is written in, as messages name it
    profiles: tuple[str, ...] = ()  # Compose's profiles: a service with some is not part of the project

    @property
    def definition(self) -> str:
        return canonical_json(self.raw)


@dataclass(frozen=True)
class VariableUse:
    """A variable reference of the compose file and where it is written."""

    reference: Reference
    field: str  # e.g. services.backend.environment.DB_URL
    line: int
    file: str = ""  # the file it is written in, as messages name it ("": the compose file itself)
    env: tuple[tuple[str, str], ...] = ()  # values that file's include env files give (Compose reads them)


@dataclass(frozen=True)
class ComposeModel:
    path: Path
    display: str
    services: Mapping[str, ComposeService] = field(default_factory=dict)
    networks: tuple[str, ...] = ()  # used by some service and not external, sorted
    volumes: tuple[str, ...] = ()  # named volumes used by some service and not external, sorted
    uses: tuple[VariableUse, ...] = ()  # every variable reference Compose interpolates, file by file
    files: tuple[Path, ...] = ()  # every file read: the compose file, included and extended files, env files
