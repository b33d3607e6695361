"""A compose service as a Deployment, a Service and the PersistentVolumeClaims of its named
volumes. Pure.

Replicas: the service's ``deploy.replicas`` (or ``scale``, default 1) on each instance the stack
runs on: one per static host, and for a fleet as many as the instances its Auto Scaling group
has (``ExportInput.replicas``), since every instance ran the whole stack. A service with a named
volume keeps one replica (its claim is ReadWriteOnce; on the hosts each had its own copy), which
the notes say. The Service is headless when the compose file declares no port: its name then
resolves to the ready pods, and every port answers, as on a compose network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.model import ServiceSpec, StackSpec
from reconciler.export.container import ContainerParts, container
from reconciler.export.names import labels, secret_name, selector, slug
from reconciler.export.probes import init_containers
from reconciler.export.units import seconds
from reconciler.export.values import ValueSource

__all__ = ["ServiceManifests", "WorkloadContext", "env_from", "service_manifests"]


@dataclass(frozen=True)
class ServiceManifests:
    documents: tuple[dict[str, object], ...]
    problems: tuple[tuple[str, str], ...]  # (key, why)
    notes: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadContext:
    environment: str
    namespace: str
    stack: StackSpec
    instances: int  # the instances (hosts) the stack runs on
    variables: Mapping[str, ValueSource]
    set_kinds: Mapping[str, frozenset[str]]  # set -> {"config", "secret"}
    wait_image: str
    volume_size: str


def env_from(service: ServiceSpec, ctx: WorkloadContext) -> list[dict[str, object]]:
    refs: list[dict[str, object]] = []
    for set_name in service.environment_from:
        kinds = ctx.set_kinds.get(set_name, frozenset())
        if "config" in kinds:
            refs.append({"configMapRef": {"name": slug(set_name)}})
        if "secret" in kinds:
            refs.append({"secretRef": {"name": secret_name(set_name)}})
    return refs


def _replicas(
    raw: Mapping[str, object], parts: ContainerParts, ctx: WorkloadContext, notes: list[str], name: str
) -> int:
    deploy = raw.get("deploy")
    per_host = deploy.get("replicas") if isinstance(deploy, Mapping) else None
    per_host = per_host if per_host is not None else raw.get("scale", 1)
    count = int(str(per_host)) * ctx.instances
    if parts.claims and count > 1:
        notes.append(
            f"{name}: 1 replica, not {count}: its volume {', '.join(parts.claims)} is a ReadWriteOnce claim "
            "(on the hosts each instance had its own copy; share one database, e.g. RDS, instead)"
        )
        return 1
    return count


def _claim(name: str, ctx: WorkloadContext) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ctx.namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": ctx.volume_size}}},
    }


def service_manifests(service: ServiceSpec, image: str, ctx: WorkloadContext) -> ServiceManifests:
    raw = json.loads(service.definition)
    assert isinstance(raw, dict)
    name, project = service.name, ctx.stack.project
    parts = container(name, raw, image, ctx.variables, env_from(service, ctx))
    notes: list[str] = []
    pod: dict[str, object] = {}
    waits = init_containers(raw.get("depends_on"), ctx.namespace, ctx.wait_image)
    if waits:
        pod["initContainers"] = waits
    pod["containers"] = [parts.container]
    grace = seconds(raw["stop_grace_period"]) if "stop_grace_period" in raw else None
    if grace:
        pod["terminationGracePeriodSeconds"] = grace
    if isinstance(raw.get("hostname"), str):
        pod["hostname"] = slug(str(raw["hostname"]))
    if isinstance(raw.get("extra_hosts"), list | dict):
        pod["hostAliases"] = _aliases(raw["extra_hosts"])
    if parts.volumes:
        pod["volumes"] = parts.volumes
    meta = labels(project, name, ctx.environment)
    strategy = {"type": "Recreate"} if parts.claims else {"type": "RollingUpdate"}
    deployment: dict[str, object] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": meta},
        "spec": {
            "replicas": _replicas(raw, parts, ctx, notes, name),
            "selector": {"matchLabels": selector(project, name)},
            "strategy": strategy,
            "template": {"metadata": {"labels": meta}, "spec": pod},
        },
    }
    spec: dict[str, object] = {"selector": selector(project, name)}
    if parts.ports:
        spec["ports"] = parts.ports
    else:
        spec["clusterIP"] = "None"
    metadata = {"name": name, "namespace": ctx.namespace, "labels": meta}
    svc: dict[str, object] = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
    if parts.published:
        notes.append(
            f"{name}: published {', '.join(parts.published)} on the host; in the cluster it is Service {name} "
            "(expose it with an Ingress or a LoadBalancer Service)"
        )
    claims = [_claim(c, ctx) for c in parts.claims]
    return ServiceManifests((deployment, svc, *claims), tuple(parts.problems), tuple(notes))


def _aliases(value: object) -> list[dict[str, object]]:
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        for item in value:
            host, sep, ip = str(item).partition(":" if "=" not in str(item) else "=")
            if sep:
                pairs.append((host, ip))
    by_ip: dict[str, list[str]] = {}
    for host, ip in pairs:
        by_ip.setdefault(ip, []).append(host)
    return [{"ip": ip, "hostnames": sorted(hosts)} for ip, hosts in sorted(by_ip.items())]
