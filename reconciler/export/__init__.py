"""Export an environment to Kubernetes: ``export_manifests(ExportInput) -> Manifests``. Pure.

The pop-con progression's next stage (Compose on EC2 -> K3s -> EKS with Argo CD) as a
command: the same environment as manifests. Each stack becomes a namespace named after its
Compose project (compose networks are per project; Kubernetes namespaces are the nearest
thing); each compose service a Deployment and a Service of the same name (:mod:`.workloads`,
:mod:`.container`, :mod:`.probes`); each ParameterSet a ConfigMap and, for its secrets, an
ExternalSecret (:mod:`.config`); each one-off job an Argo CD Sync hook Job before the services it
precedes (:mod:`.jobs`); then a ``kustomization.yaml`` listing every file and an Argo
CD ``application.yaml`` pointing at the folder (:mod:`.argocd`). What has no Kubernetes
equivalent is a :class:`~.model.Finding` (:mod:`.compose_keys`), never dropped silently;
what changes meaning is a note. Output is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import json

import yaml

from reconciler.core.model import StackSpec
from reconciler.export.argocd import APPLICATION_FILE, application, kustomization
from reconciler.export.compose_keys import noted, untranslatable
from reconciler.export.config import namespace_documents
from reconciler.export.jobs import job_manifest, preceded_wave
from reconciler.export.model import ExportInput, Finding, GitTarget, Manifests
from reconciler.export.names import dns_label, slug
from reconciler.export.values import stack_sets, stack_variables
from reconciler.export.workloads import WorkloadContext, service_manifests

__all__ = ["HEADER", "ExportInput", "Finding", "GitTarget", "Manifests", "export_manifests", "to_yaml"]

HEADER = "# Written by `reconciler export --to kubernetes`; edit the environment, then export again.\n"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Block style without anchors: a mapping used twice is written twice."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def to_yaml(documents: list[dict[str, object]]) -> str:
    """Documents as one YAML stream (block style, keys in the order written, no anchors)."""
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120) for d in documents
    )
    return HEADER + body


def _instances(source: ExportInput, stack: StackSpec) -> int:
    return sum(max(0, source.replicas.get(host, 1)) for host in stack.hosts) or 1


def _stack(source: ExportInput, stack: StackSpec) -> tuple[dict[str, str], list[Finding], list[str]]:
    desired = source.desired
    namespace = slug(stack.project)
    sets = stack_sets(stack)
    config, kinds = namespace_documents(desired, sets, namespace, source.region)
    ctx = WorkloadContext(
        environment=desired.environment,
        namespace=namespace,
        stack=stack,
        instances=_instances(source, stack),
        variables=stack_variables(desired, stack, stack.hosts[0]),
        set_kinds=kinds,
        wait_image=source.wait_image,
        volume_size=source.volume_size,
    )
    files = {f"{namespace}/config.yaml": to_yaml(config)}
    findings: list[Finding] = []
    notes: list[str] = []
    claimed: set[str] = set()
    for service in stack.services:
        where = source.sources.get((stack.name, service.name), f"stack {stack.name}")
        image = source.images.get((stack.name, service.name), "")
        raw_keys = untranslatable(_raw(service.definition))
        findings += [Finding(where, f"services.{service.name}.{key}", why) for key, why in raw_keys]
        if not dns_label(service.name):
            why = "not a valid Kubernetes Service name (lowercase letters, digits and '-'); others reach it by it"
            findings.append(Finding(where, f"services.{service.name}", why))
            continue
        made = service_manifests(service, image, ctx)
        findings += [Finding(where, f"services.{service.name}.{key}", why) for key, why in made.problems]
        notes += noted(service.name, _raw(service.definition)) + list(made.notes)
        docs = [d for d in made.documents if not _claim_seen(d, claimed)]
        preceded_wave(docs, service.name, {name for job in stack.jobs for name in job.before})
        files[f"{namespace}/{service.name}.yaml"] = to_yaml(docs)
    by_name = {s.name: s for s in stack.services}
    for job in stack.jobs:
        runs_with = by_name.get(job.service)
        if runs_with is None or not dns_label(job.name):
            continue  # the spec checks refuse both
        made_job = job_manifest(job, runs_with, source.images.get((stack.name, runs_with.name), ""), ctx)
        where = source.sources.get((stack.name, runs_with.name), f"stack {stack.name}")
        findings += [Finding(where, f"services.{runs_with.name}.{key}", why) for key, why in made_job.problems]
        notes.append(made_job.note)
        files[f"{namespace}/job-{job.name}.yaml"] = to_yaml([made_job.document])
    return files, findings, notes


def _raw(definition: str) -> dict[str, object]:
    raw = json.loads(definition)
    return raw if isinstance(raw, dict) else {}


def _claim_seen(doc: dict[str, object], claimed: set[str]) -> bool:
    """A claim two services of the stack mount is written once."""
    if doc.get("kind") != "PersistentVolumeClaim":
        return False
    meta = doc.get("metadata")
    name = str(meta.get("name")) if isinstance(meta, dict) else ""
    seen = name in claimed
    claimed.add(name)
    return seen


def export_manifests(source: ExportInput) -> Manifests:
    """The manifests of ``source``'s environment, what could not be translated and the notes."""
    files: dict[str, str] = {}
    findings: list[Finding] = []
    notes: list[str] = []
    for stack in sorted(source.desired.stacks, key=lambda s: s.name):
        made, found, noted_ = _stack(source, stack)
        files.update(made)
        findings += found
        notes += noted_
        if len(stack.networks) > 1:
            notes.append(f"stack {stack.name}: its networks ({', '.join(stack.networks)}) become one namespace, "
                         "where every pod reaches every Service (add NetworkPolicies to separate them)")  # fmt: skip
    name = source.desired.owner if dns_label(slug(source.desired.owner)) else source.desired.environment
    files["kustomization.yaml"] = to_yaml([kustomization(sorted(files))])
    files[APPLICATION_FILE] = to_yaml([application(name, source.git)])
    return Manifests(dict(sorted(files.items())), tuple(sorted(set(findings))), tuple(notes))
