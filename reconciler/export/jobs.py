"""A stack's one-off jobs as Argo CD Sync hook Jobs, and the sync waves that put them before the
services they precede. Pure.

On the hosts a job (``spec.jobs``) runs with ``docker compose run`` before the services in its
``before`` change, once their dependencies are up. In the cluster it is a ``batch/v1`` Job, an Argo CD
``Sync`` hook in wave 1 (recreated for every sync: ``BeforeHookCreation``): Argo CD applies wave 0 (every
other resource) and waits for it to be healthy, runs the Job, and applies the services it precedes
in wave 2 only once it succeeded. Its container is the service's (image, environment, volumes), with
the job's command as ``args`` (``docker compose run`` replaces the command, not the entrypoint), no
probes, ``restartPolicy: Never``, ``backoffLimit: 0`` and the timeout as ``activeDeadlineSeconds``.
A hook runs at every sync, not only when its services change: jobs must be safe to repeat, as they
already must be on the hosts (the note says so).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core.model import JobSpec, ServiceSpec
from reconciler.export.container import container
from reconciler.export.names import labels
from reconciler.export.probes import init_containers
from reconciler.export.workloads import WorkloadContext, env_from

__all__ = ["HOOK_WAVE", "PRECEDED_WAVE", "JobManifest", "job_manifest", "preceded_wave"]

HOOK_WAVE = "1"
PRECEDED_WAVE = "2"
WAVE = "argocd.argoproj.io/sync-wave"
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(frozen=True)
class JobManifest:
    document: dict[str, object]
    problems: tuple[tuple[str, str], ...]  # (key, why) of the service's definition
    note: str


def job_manifest(job: JobSpec, service: ServiceSpec, image: str, ctx: WorkloadContext) -> JobManifest:
    """The Job of ``job``, run with ``service``'s container."""
    raw = json.loads(service.definition)
    assert isinstance(raw, dict)
    parts = container(job.name, raw, image, ctx.variables, env_from(service, ctx))
    c = {k: v for k, v in parts.container.items() if k not in (*_PROBES, "ports")}
    c["args"] = list(job.command)
    pod: dict[str, object] = {"restartPolicy": "Never"}
    waits = init_containers(raw.get("depends_on"), ctx.namespace, ctx.wait_image)
    if waits:
        pod["initContainers"] = waits
    pod["containers"] = [c]
    if parts.volumes:
        pod["volumes"] = parts.volumes
    meta = {**labels(ctx.stack.project, job.name, ctx.environment), "app.kubernetes.io/component": "job"}
    annotations = {
        "argocd.argoproj.io/hook": "Sync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
        WAVE: HOOK_WAVE,
    }
    document: dict[str, object] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "namespace": ctx.namespace, "labels": meta, "annotations": annotations},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, round(job.timeout)),
            "template": {"metadata": {"labels": meta}, "spec": pod},
        },
    }
    note = (
        f"job {job.name}: an Argo CD Sync hook Job in wave {HOOK_WAVE}, before {', '.join(job.before)} (wave "
        f"{PRECEDED_WAVE}); it runs at every sync, not only when those change: it must be safe to repeat"
    )
    return JobManifest(document, tuple(parts.problems), note)


def preceded_wave(documents: Iterable[dict[str, object]], service: str, preceded: set[str]) -> None:
    """Put the Deployment of a service some job precedes in the wave after the jobs (in place)."""
    if service not in preceded:
        return
    for doc in documents:
        meta = doc.get("metadata")
        if doc.get("kind") == "Deployment" and isinstance(meta, dict):
            meta["annotations"] = {**dict(meta.get("annotations") or {}), WAVE: PRECEDED_WAVE}
