"""The kustomization that lists the manifests, and the Argo CD Application that points at the
folder. Pure.

Argo CD finds ``kustomization.yaml`` in the folder and builds it: only the files it lists are
applied (``application.yaml`` itself is not among them: it is applied once, to the namespace
Argo CD runs in, and Argo CD keeps the rest in sync, pruning what the folder no longer holds).
"""

from __future__ import annotations

from reconciler.export.model import GitTarget
from reconciler.export.names import MANAGED_BY, slug

__all__ = ["application", "kustomization"]

APPLICATION_FILE = "application.yaml"


def kustomization(resources: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def application(name: str, git: GitTarget) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": slug(name), "namespace": "argocd", "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
        "spec": {
            "project": "default",
            "source": {"repoURL": git.repo_url, "targetRevision": git.revision, "path": git.path},
            "destination": {"server": "https://kubernetes.default.svc"},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }
