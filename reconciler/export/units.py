"""Compose's durations, CPU counts and byte sizes in Kubernetes' units. Pure."""

from __future__ import annotations

import re

__all__ = ["cpu_quantity", "memory_quantity", "seconds"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_SCALE = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?", re.IGNORECASE)
_BINARY = {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}


def seconds(value: object) -> int | None:
    """``1m30s`` -> 90 (rounded up to whole seconds, at least 1); None when unreadable."""
    if isinstance(value, int | float):
        return max(1, int(-(-float(value) // 1)))
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text:
        return None
    total = sum(float(n) * _SCALE[u] for n, u in parts)
    return max(1, int(-(-total // 1)))


def cpu_quantity(value: object) -> str | None:
    """``0.5`` -> ``500m``; ``2`` -> ``2``."""
    try:
        cpus = float(str(value))
    except ValueError:
        return None
    millis = round(cpus * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(value: object) -> str | None:
    """Compose's ``512m`` / ``1g`` / ``1gb`` / bytes (binary units) -> ``512Mi`` / ``1Gi``."""
    if isinstance(value, int):
        return str(value)
    m = _SIZE.fullmatch(str(value).strip())
    if m is None:
        return None
    number, unit = m.group(1), m.group(2).lower()
    if "." in number:
        return None
    return f"{number}{_BINARY[unit]}"
