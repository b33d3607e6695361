"""Shared pieces of the planner: the parameter index, short forms of digests, a container's view in
a Change and the Draft value planner parts return. Pure.

Nothing here does I/O; everything is a function of the desired and observed
values handed in, and every value built here is frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.actions import Action
from reconciler.core.address import (
    container_address,
    duplicate_network_address,
    host_stack_address,
    image_address,
    network_address,
    parameter_address,
    service_address,
    stack_address,
    stack_image_address,
    volume_address,
)
from reconciler.core.model import DesiredState, ParameterSpec, Sensitive, Value
from reconciler.core.observed import ObservedContainer
from reconciler.core.plan import Problem, Unchanged

__all__ = [
    "Draft",
    "ParameterIndex",
    "container_address",
    "container_view",
    "duplicate_network_address",
    "host_stack_address",
    "image_address",
    "network_address",
    "parameter_address",
    "same_value",
    "secret",
    "service_address",
    "short",
    "stack_address",
    "stack_image_address",
    "volume_address",
]


def short(digest: str | None, length: int = 12) -> str:
    """``sha256:0123456789abcdef...`` -> ``sha256:0123456789ab…``; plain hex likewise."""
    if not digest:
        return "(none)"
    algo, sep, hexpart = digest.partition(":")
    if not sep:
        return digest[:length] + ("…" if len(digest) > length else "")
    return f"{algo}:{hexpart[:length]}" + ("…" if len(hexpart) > length else "")


def secret(value: Value) -> Sensitive:
    """The value as Sensitive (a str is wrapped, a Sensitive kept)."""
    return value if isinstance(value, Sensitive) else Sensitive(value)


def container_view(container: ObservedContainer) -> dict[str, object]:
    """What a Change shows of a container: its image, config hash and state."""
    return {"image": container.image, "config_hash": container.config_hash, "state": container.state}


def same_value(a: Value, b: Value) -> bool:
    """Compare two values without exposing either (Sensitive compares internally)."""
    if isinstance(a, Sensitive) and isinstance(b, Sensitive):
        return a == b
    plain_a = a.reveal() if isinstance(a, Sensitive) else a
    plain_b = b.reveal() if isinstance(b, Sensitive) else b
    return plain_a == plain_b


@dataclass(frozen=True)
class ParameterIndex:
    """Declared parameters by full name and by set, built once per plan (O(n))."""

    by_name: Mapping[str, ParameterSpec]
    by_set: Mapping[str, tuple[ParameterSpec, ...]]

    @classmethod
    def build(cls, desired: DesiredState) -> ParameterIndex:
        by_name: dict[str, ParameterSpec] = {}
        by_set: dict[str, list[ParameterSpec]] = {}
        for spec in desired.parameters:
            by_name.setdefault(spec.name, spec)
            by_set.setdefault(spec.set_name, []).append(spec)
        return cls(by_name=by_name, by_set={k: tuple(v) for k, v in by_set.items()})


@dataclass(frozen=True)
class Draft:
    """What one part of the planner contributes to the plan."""

    actions: tuple[Action, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    problems: tuple[Problem, ...] = ()
