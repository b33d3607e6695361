"""A compose healthcheck as Kubernetes probes, and ``depends_on`` as init containers that wait. Pure.

The healthcheck becomes a readinessProbe (the Service sends traffic only to a healthy pod, as
``service_healthy`` waits for a healthy container) and, with a ``start_period``, a
startupProbe. No livenessProbe: Docker never restarts an unhealthy container either.
``depends_on`` becomes one init container per dependency that waits until the dependency's
Service has a ready pod (its name resolves: a headless Service lists ready pods only).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.export.units import seconds

__all__ = ["init_containers", "probes"]


def _command(test: object) -> list[str] | None:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if isinstance(test, list) and test:
        head, rest = str(test[0]), [str(t) for t in test[1:]]
        if head == "CMD":
            return rest
        if head == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(rest)]
    return None


def probes(healthcheck: object) -> dict[str, object]:
    """``readinessProbe`` (and ``startupProbe``) for a compose healthcheck; none when it is
    disabled or absent."""
    if not isinstance(healthcheck, Mapping) or healthcheck.get("disable") is True:
        return {}
    command = _command(healthcheck.get("test"))
    if command is None:
        return {}
    probe: dict[str, object] = {"exec": {"command": command}}
    interval = seconds(healthcheck.get("interval", "30s")) or 30
    probe["periodSeconds"] = interval
    probe["timeoutSeconds"] = seconds(healthcheck.get("timeout", "30s")) or 30
    probe["failureThreshold"] = int(str(healthcheck.get("retries", 3)))
    found: dict[str, object] = {"readinessProbe": probe}
    start = seconds(healthcheck["start_period"]) if "start_period" in healthcheck else None
    if start:
        found["startupProbe"] = {**probe, "failureThreshold": max(1, -(-start // interval))}
    return found


def dependencies(depends_on: object) -> list[str]:
    if isinstance(depends_on, Mapping):
        return sorted(str(k) for k in depends_on)
    if isinstance(depends_on, list):
        return sorted(str(k) for k in depends_on)
    return []


def init_containers(depends_on: object, namespace: str, image: str) -> list[dict[str, object]]:
    """One init container per dependency, waiting until its Service resolves."""
    waits: list[dict[str, object]] = []
    for name in dependencies(depends_on):
        host = f"{name}.{namespace}.svc.cluster.local"
        script = f"until nslookup {host} >/dev/null 2>&1; do echo waiting for {name}; sleep 2; done"
        label = f"wait-for-{name}"[:63].rstrip("-")
        waits.append({"name": label, "image": image, "command": ["/bin/sh", "-c", script]})
    return waits
