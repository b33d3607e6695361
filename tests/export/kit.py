"""Helpers of the export tests: an environment folder exported purely (no registry, no AWS), and
every manifest checked against Kubernetes' own schemas (kubernetes-validate, strict)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import kubernetes_validate
import yaml

from reconciler.app.export import ExportOptions, export_input
from reconciler.core.model import DesiredState
from reconciler.export import GitTarget, Manifests, export_manifests
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = "1.33"
GIT = GitTarget("https://github.com/acme/popcon-gitops.git", "kubernetes/{env}", "main")
#: kinds kubernetes-validate has no schema for (CRDs, kustomize): checked by shape in the tests
CUSTOM = {"ExternalSecret", "SecretStore", "Application", "Kustomization"}


def fake_digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def export_folder(folder: Path, replicas: dict[str, int] | None = None) -> tuple[Manifests, DesiredState]:
    """The manifests of ``folder`` with every image tag 'resolved' to a digest made from its name."""
    loaded = load_environment(folder)
    desired = build_desired(loaded, lambda _name: "(not exported)")
    digests = {ref.key: ref.digest or fake_digest(ref.key) for ref in desired.images}
    git = GitTarget(GIT.repo_url, GIT.path.format(env=folder.name), GIT.revision)
    region = loaded.environment.spec.aws.region if loaded.environment.spec.aws is not None else None
    source = export_input(loaded, desired, digests, replicas or {}, git, ExportOptions(Path("out")), region)
    return export_manifests(source), desired


def documents(manifests: Manifests) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for text in manifests.files.values():
        found += [d for d in yaml.safe_load_all(text) if d]
    return found


def validate(manifests: Manifests) -> int:
    """Every built-in document against Kubernetes' schema (strict: no unknown field); how many."""
    checked = 0
    for doc in documents(manifests):
        if doc["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        checked += 1
    return checked
