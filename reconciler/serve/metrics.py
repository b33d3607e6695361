"""A small, thread-safe registry of counters and gauges in the Prometheus text format. Pure (no I/O).

The listener only needs a callable returning text (``Metrics.render``), so the
loop may use this registry or any other. Guarantees: every sample belongs to a
declared family (``# HELP`` and ``# TYPE`` once per family, families in
declaration order, samples sorted by labels); counters only go up; label values
are escaped as the exposition format requires (backslash, quote, newline), so
no value can forge a line.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge"]
Labels = tuple[tuple[str, str], ...]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass
class _Family:
    kind: Kind
    help: str
    samples: dict[Labels, float] = field(default_factory=dict)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


class Metrics:
    """Declared counter and gauge families; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def declare(self, name: str, kind: Kind, help: str) -> None:
        """Declare a family (idempotent for the same kind; a different kind is a programming error)."""
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"invalid metric name {name!r}")
        with self._lock:
            existing = self._families.get(name)
            if existing is not None and existing.kind != kind:
                raise ValueError(f"metric {name!r} is a {existing.kind}, not a {kind}")
            if existing is None:
                self._families[name] = _Family(kind, " ".join(help.split()))

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to a counter, or to a gauge."""
        if amount < 0 and self._family(name).kind == "counter":
            raise ValueError(f"counter {name!r} cannot decrease")
        key = self._key(labels)
        with self._lock:
            samples = self._family(name).samples
            samples[key] = samples.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        if self._family(name).kind != "gauge":
            raise ValueError(f"{name!r} is a counter: use inc()")
        key = self._key(labels)
        with self._lock:
            self._family(name).samples[key] = float(value)

    def value(self, name: str, **labels: str) -> float | None:
        """The current sample (None when never set): for tests and for the loop's own reports."""
        with self._lock:
            return self._family(name).samples.get(self._key(labels))

    def render(self) -> str:
        """The registry in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name, family in self._families.items():
                lines.append(f"# HELP {name} {family.help}")
                lines.append(f"# TYPE {name} {family.kind}")
                for labels, value in sorted(family.samples.items()):
                    rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{rendered}}} {_number(value)}" if labels else f"{name} {_number(value)}")
        return "\n".join(lines) + "\n" if lines else ""

    def _family(self, name: str) -> _Family:
        family = self._families.get(name)
        if family is None:
            raise KeyError(f"metric {name!r} was not declared")
        return family

    @staticmethod
    def _key(labels: dict[str, str]) -> Labels:
        for label in labels:
            if _LABEL.fullmatch(label) is None or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r}")
        return tuple(sorted((k, str(v)) for k, v in labels.items()))


def loop_metrics() -> Metrics:
    """The reconcile loop's families (the loop updates them; the listener serves them)."""
    metrics = Metrics()
    metrics.declare("reconciler_ticks_total", "counter", "Reconcile ticks finished, by result and trigger.")
    metrics.declare("reconciler_applies_total", "counter", "Actions applied, by result.")
    metrics.declare("reconciler_failures_total", "counter", "Failed ticks, by kind (temporary, permanent).")
    metrics.declare(
        "reconciler_last_success_timestamp_seconds", "gauge", "Unix time of the last tick that finished in sync."
    )
    return metrics
