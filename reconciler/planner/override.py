"""Render the per-stack Compose override mapping. Pure.

The override (no secrets, kept on disk for inspection) pins every service's
image by digest, puts the ownership/config-hash labels on it (and the version ids
of the Secrets Manager secrets it reads, never their values) and injects the
``environmentFrom`` keys as ``KEY: ${KEY}`` references, which Compose resolves
from the values the executor puts in its process environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.core.model import (
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    STACK_KEY,
    ServiceTarget,
    StackSpec,
)
from reconciler.core.secretsmanager import SECRET_VERSIONS_KEY

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render_override(
    stack: StackSpec,
    targets: Mapping[str, ServiceTarget],
    owner: str,
    environment: str,
    environment_keys: Mapping[str, tuple[str, ...]],
) -> dict[str, object]:
    """The override compose document for ``stack`` (services in the stack's order)."""
    services: dict[str, object] = {}
    for service in stack.services:
        target = targets.get(service.name)
        if target is None:
            continue
        entry: dict[str, object] = {}
        if target.image:
            entry["image"] = target.image
        labels = {
            OWNER_KEY: owner,
            ENVIRONMENT_KEY: environment,
            STACK_KEY: stack.name,
            CONFIG_HASH_KEY: target.config_hash,
        }
        if target.secret_versions is not None:
            labels[SECRET_VERSIONS_KEY] = target.secret_versions
        entry["labels"] = labels
        keys = environment_keys.get(service.name, ())
        if keys:
            for key in keys:
                _check_name(key)
            entry["environment"] = {key: "${" + key + "}" for key in sorted(set(keys))}
        services[service.name] = entry
    return {"services": services}


def _check_name(key: str) -> None:
    if not ENV_NAME.fullmatch(key):
        raise ValueError(f"{key!r} is not a valid environment variable name")
