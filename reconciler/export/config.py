"""A stack's namespace and its configuration: ConfigMaps for plain values, ExternalSecrets for
secrets, and the stores they read. Pure.

Each ParameterSet a stack reads becomes, in the stack's namespace, a ConfigMap of its String and
StringList values and, when it holds secrets, an ExternalSecret (external-secrets.io/v1) that
writes a Secret named ``<set>-secrets``: a SecureString is read from SSM Parameter Store by its
full name, a ``fromSecretsManager`` value from Secrets Manager by secret id, JSON key and version
stage. No secret value is ever written; the stores (one SecretStore per AWS service, in the
stack's region) authenticate as the cluster grants (IRSA or EKS Pod Identity).
"""

from __future__ import annotations

from reconciler.core.model import DesiredState, ParameterSpec, Sensitive
from reconciler.core.secretsmanager import AWSCURRENT
from reconciler.export.names import MANAGED_BY, SECRETS_MANAGER_STORE, SSM_STORE, secret_name, slug

__all__ = ["is_secret", "namespace_documents"]

ESO_API = "external-secrets.io/v1"


def is_secret(spec: ParameterSpec) -> bool:
    return spec.type == "SecureString" or isinstance(spec.value, Sensitive) or spec.value is None


def _meta(name: str, namespace: str) -> dict[str, object]:
    return {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}}


def _store(name: str, namespace: str, service: str, region: str) -> dict[str, object]:
    return {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": _meta(name, namespace),
        "spec": {"provider": {"aws": {"service": service, "region": region}}},
    }


def _remote(spec: ParameterSpec) -> dict[str, object]:
    if spec.secret is None:
        return {"secretKey": spec.key, "remoteRef": {"key": spec.name}}
    ref: dict[str, object] = {"key": spec.secret.secret_id}
    if spec.secret.key is not None:
        ref["property"] = spec.secret.key
    if spec.secret.version_stage != AWSCURRENT:
        ref["version"] = spec.secret.version_stage
    return {
        "secretKey": spec.key,
        "remoteRef": ref,
        "sourceRef": {"storeRef": {"name": SECRETS_MANAGER_STORE, "kind": "SecretStore"}},
    }


def _entry(spec: ParameterSpec, default_store: str) -> dict[str, object]:
    """One data entry; a sourceRef only where it is not the ExternalSecret's default store."""
    entry = _remote(spec)
    if default_store == SECRETS_MANAGER_STORE:
        entry.pop("sourceRef", None)
    return entry


def namespace_documents(
    desired: DesiredState, sets: list[str], namespace: str, region: str | None
) -> tuple[list[dict[str, object]], dict[str, frozenset[str]]]:
    """The namespace, its ConfigMaps, ExternalSecrets and SecretStores for ``sets``; and for each
    set which of config/secret it has."""
    docs: list[dict[str, object]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    kinds: dict[str, frozenset[str]] = {}
    stores: set[str] = set()
    for set_name in sets:
        params = desired.set_parameters(set_name)
        plain = {p.key: str(p.value) for p in params if not is_secret(p)}
        secret = [p for p in params if is_secret(p)]
        kinds[set_name] = frozenset({"config"} if plain else set()) | frozenset({"secret"} if secret else set())
        if plain:
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(slug(set_name), namespace),
                         "data": dict(sorted(plain.items()))})  # fmt: skip
        if not secret:
            continue
        stores.update(SSM_STORE if p.secret is None else SECRETS_MANAGER_STORE for p in secret)
        default = SSM_STORE if any(p.secret is None for p in secret) else SECRETS_MANAGER_STORE
        docs.append({
            "apiVersion": ESO_API,
            "kind": "ExternalSecret",
            "metadata": _meta(slug(set_name), namespace),
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"name": default, "kind": "SecretStore"},
                "target": {"name": secret_name(set_name), "creationPolicy": "Owner"},
                "data": [_entry(p, default) for p in secret],
            },
        })  # fmt: skip
    for store in sorted(stores):
        service = "ParameterStore" if store == SSM_STORE else "SecretsManager"
        docs.append(_store(store, namespace, service, region or "us-east-1"))
    return docs, kinds
