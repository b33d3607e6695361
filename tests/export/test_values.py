"""The exporter's small translations: compose interpolation to Kubernetes' $(VAR), units, probes,
init containers, ports and resources. Pure."""

from __future__ import annotations

import pytest

from reconciler.export.container import container
from reconciler.export.probes import init_containers, probes
from reconciler.export.units import cpu_quantity, memory_quantity, seconds
from reconciler.export.values import ValueSource, substitute

VARS = {
    "DB_HOST": ValueSource("config", "popcon-config", "DB_HOST"),
    "DB_PASSWORD": ValueSource("secret", "popcon-secrets", "DB_PASSWORD"),
    "PORT": ValueSource("plain", value="3000"),
}


@pytest.mark.parametrize(
    ("text", "in_env", "expected", "problem"),
    [
        ("jdbc:mysql://${DB_HOST}:${DB_PORT:-3306}/app", True, "jdbc:mysql://$(DB_HOST):3306/app", ""),
        ("$DB_HOST $$HOME $$(date)", True, "$(DB_HOST) $HOME $$(date)", ""),
        ("${PORT}:3000", False, "3000:3000", ""),
        ("${NOPE-fallback} ${PORT:+set} ${NOPE:+no}", False, "fallback set ", ""),
        ("${DB_PASSWORD}", False, "", "comes from a secret and can only be used in an environment value"),
        ("${DB_HOST}", False, "", "comes from ConfigMap popcon-config"),
        ("${MISSING:?set it}", False, "", "${MISSING} is required (set it)"),
        ("price: $(cat)", True, "price: $$(cat)", ""),
    ],
)
def test_substitute(text: str, in_env: bool, expected: str, problem: str) -> None:
    refs: set[str] = set()
    out, problems = substitute(text, VARS, in_env=in_env, refs=refs)
    assert out == expected
    assert (problem in " ".join(problems)) if problem else not problems


def test_units() -> None:
    assert [seconds(v) for v in ("2s", "1m30s", "500ms", 10, "bad")] == [2, 90, 1, 10, None]
    assert [cpu_quantity(v) for v in ("0.5", 2, "1.25")] == ["500m", "2", "1250m"]
    sizes = [memory_quantity(v) for v in ("512m", "1g", "1gb", "64M", 1048576)]
    assert sizes == ["512Mi", "1Gi", "1Gi", "64Mi", "1048576"]


def test_healthcheck_becomes_probes_and_depends_on_waits() -> None:
    found = probes({"test": "curl -f http://localhost/ || exit 1", "interval": "10s", "retries": 5,
                    "start_period": "40s"})  # fmt: skip
    assert found["readinessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]},
                                       "periodSeconds": 10, "timeoutSeconds": 30, "failureThreshold": 5}  # fmt: skip
    assert found["startupProbe"]["failureThreshold"] == 4  # type: ignore[index]
    assert probes({"test": ["NONE"]}) == {} and probes({"disable": True, "test": ["CMD", "true"]}) == {}
    waits = init_containers({"db": {"condition": "service_healthy"}}, "ns", "busybox:1.36.1")
    assert waits[0]["name"] == "wait-for-db" and "db.ns.svc.cluster.local" in str(waits[0]["command"])


def test_container_ports_resources_and_commands() -> None:
    raw = {
        "entrypoint": ["/bin/app"],
        "command": "serve --port 8080",
        "ports": ["127.0.0.1:8080:8080", {"target": 9090, "published": 19090, "protocol": "udp"}],
        "expose": ["8080"],
        "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "256M"}, "reservations": {"memory": "128m"}}},
        "environment": ["A=1", "B=${DB_HOST}-x", "C=${DB_PASSWORD}"],
        "user": "1000",
        "cap_drop": ["ALL"],
    }
    parts = container("app", raw, "img@sha256:x", VARS, [])
    c = parts.container
    assert c["command"] == ["/bin/app"] and c["args"] == ["serve", "--port", "8080"]
    assert [p["containerPort"] for p in c["ports"]] == [8080, 9090]  # type: ignore[index, union-attr, attr-defined]
    assert parts.published == ["127.0.0.1:8080:8080", "19090:9090/udp"]
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"memory": "128Mi"}}
    assert c["env"] == [
        {"name": "DB_HOST", "valueFrom": {"configMapKeyRef": {"name": "popcon-config", "key": "DB_HOST"}}},
        {"name": "A", "value": "1"},
        {"name": "B", "value": "$(DB_HOST)-x"},
        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "popcon-secrets", "key": "DB_PASSWORD"}}},
    ]
    assert c["securityContext"] == {"runAsUser": 1000, "capabilities": {"drop": ["ALL"]}}
    assert not parts.problems
