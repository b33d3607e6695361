"""What the reconciler knows of a stack's compose file: per service, its mapping and what it uses. Pure.

:class:`ComposeModel` is built by :func:`reconciler.spec.compose_file.parse_compose`; the
planner and the renderers work from it (through :mod:`reconciler.spec.desired`), never from
the file itself. A service's :attr:`ComposeService.definition` is the canonical JSON text of
its mapping before interpolation, hashed into the config hash.
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

    @property
    def definition(self) -> str:
        return canonical_json(self.raw)


@dataclass(frozen=True)
class VariableUse:
    """A variable reference of the compose file and where it is written."""

    reference: Reference
    field: str  # e.g. services.backend.environment.DB_URL
    line: int


@dataclass(frozen=True)
class ComposeModel:
    path: Path
    display: str
    services: Mapping[str, ComposeService] = field(default_factory=dict)
    networks: tuple[str, ...] = ()  # used by some service and not external, sorted
    volumes: tuple[str, ...] = ()  # named volumes used by some service and not external, sorted
    uses: tuple[VariableUse, ...] = ()  # every variable reference of the file, in file order
