"""Kubernetes names and labels for what an environment holds. Pure.

A compose project becomes a namespace, a compose service a Deployment and a Service of the same
name (so ``http://backend:8080`` keeps working), a ParameterSet a ConfigMap and an
ExternalSecret. Names must be DNS-1123 labels; :func:`dns_label` says whether one is.
"""

from __future__ import annotations

import re

__all__ = ["MANAGED_BY", "dns_label", "labels", "secret_name", "selector", "slug"]

_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
MANAGED_BY = "reconciler-export"
SSM_STORE = "aws-parameter-store"
SECRETS_MANAGER_STORE = "aws-secrets-manager"


def dns_label(name: str) -> bool:
    """``name`` is a valid DNS-1123 label (a Service's name must be one)."""
    return _LABEL_RE.fullmatch(name) is not None


def slug(name: str) -> str:
    """``name`` made a DNS-1123 label (lowercase, other characters as ``-``, at most 63)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return text[:63].rstrip("-") or "x"


def secret_name(set_name: str) -> str:
    """The Secret an ExternalSecret of a ParameterSet writes (named as the set, as its ConfigMap)."""
    return slug(set_name)


def selector(project: str, service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/instance": project}


def labels(project: str, service: str, environment: str) -> dict[str, str]:
    return {
        **selector(project, service),
        "app.kubernetes.io/part-of": slug(environment),
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
