"""Read the Secrets Manager secrets the specs name into :class:`ObservedSecret`. Does I/O (through
:class:`~reconciler.drivers.aws.secretsmanager.SecretsReader`; the parsing here is pure).

Cost: one read per secret and version stage per tick, whatever the number of
parameters that take a key of it: the secrets at AWSCURRENT in
BatchGetSecretValue calls of 20 when there are several, the others one
GetSecretValue each. The SecretString is wrapped in
:class:`~reconciler.core.model.Sensitive` as soon as it is read; a secret
that does not exist is absent (the planner makes it a Problem).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.core.model import Sensitive
from reconciler.core.secretsmanager import ObservedSecret, SecretRef, read_key
from reconciler.drivers.aws.secretsmanager import SecretsReader

__all__ = ["observe_secrets"]


def _observed(secret_id: str, stage: str, raw: Mapping[str, Any]) -> ObservedSecret:
    text = raw.get("SecretString")
    return ObservedSecret(
        secret_id=secret_id,
        version_stage=stage,
        version_id=str(raw.get("VersionId", "")),
        name=str(raw.get("Name", "")),
        value=Sensitive(str(text)) if text is not None else None,
        binary=text is None and raw.get("SecretBinary") is not None,
    )


def observe_secrets(reader: SecretsReader, refs: Iterable[SecretRef]) -> dict[str, ObservedSecret]:
    """The secrets ``refs`` name, each read once, by :attr:`SecretRef.read_key`."""
    wanted = {(ref.secret_id, ref.version_stage) for ref in refs}
    if not wanted:
        return {}
    found = reader.read(wanted)
    return {read_key(sid, stage): _observed(sid, stage, raw) for (sid, stage), raw in found.items()}
