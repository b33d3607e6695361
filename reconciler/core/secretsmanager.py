"""Values from AWS Secrets Manager: what the spec asks for, what was read, and the value it gives. Pure.

A parameter of a ParameterSet can take its value from a secret
(``fromSecretsManager: {secretId, key, versionStage}``): :class:`SecretRef` is
that reference, :class:`ObservedSecret` one secret version as the observer
read it (one read per secret and version stage per tick), and
:func:`resolve_secret` the value it yields (the whole ``SecretString``, or one
key of it when it is a JSON object) as a :class:`SecretValue`: a
:class:`~reconciler.core.model.Sensitive` that also carries the secret's
version id. The config hash takes the version id (:attr:`SecretValue.stamp`),
never the value, so a rotation (a new AWSCURRENT version) changes exactly the
hashes of the services that read the secret, and the version each container
was made with is kept in its :data:`SECRET_VERSIONS_KEY` label to say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.model import Sensitive

__all__ = [
    "AWSCURRENT",
    "SECRET_VERSIONS_KEY",
    "ObservedSecret",
    "SecretRef",
    "SecretValue",
    "parse_versions_label",
    "resolve_secret",
    "versions_label",
]

AWSCURRENT = "AWSCURRENT"

# Container label: {secret id: version id} of the secrets the container's values came from.
SECRET_VERSIONS_KEY = "reconciler.dev/secret-versions"


@dataclass(frozen=True)
class SecretRef:
    """One value from a secret: the secret (name or ARN), the JSON key (None: the whole string) and
    the version stage read."""

    secret_id: str
    key: str | None = None
    version_stage: str = AWSCURRENT

    @property
    def read_key(self) -> str:
        """What is read once per tick: the secret at one version stage."""
        return read_key(self.secret_id, self.version_stage)

    def describe(self) -> str:
        """``table-order/db`` (key ``password``, stage ``AWSPENDING``), for messages."""
        parts = [f"key {self.key}"] if self.key is not None else []
        if self.version_stage != AWSCURRENT:
            parts.append(f"stage {self.version_stage}")
        return self.secret_id + (f" ({', '.join(parts)})" if parts else "")


def read_key(secret_id: str, stage: str) -> str:
    return f"{secret_id}@{stage}"


@dataclass(frozen=True)
class ObservedSecret:
    """A secret at one version stage as read: its version id and its SecretString (Sensitive);
    ``binary`` when it holds a SecretBinary instead."""

    secret_id: str
    version_stage: str
    version_id: str
    name: str = ""
    value: Sensitive | None = None
    binary: bool = False


class SecretValue(Sensitive):
    """A Sensitive value from a secret, carrying where it came from; the config hash takes
    :attr:`stamp` (secret, key, version id) instead of the value."""

    __slots__ = ("ref", "version_id")

    def __init__(self, value: str, ref: SecretRef, version_id: str) -> None:
        super().__init__(value)
        self.ref = ref
        self.version_id = version_id

    @property
    def stamp(self) -> str:
        return f"secretsmanager:{self.ref.secret_id}:{self.ref.key or ''}:{self.ref.version_stage}:{self.version_id}"

    def at_version(self, version_id: str) -> SecretValue:
        """The same reference at another version (the value is kept: only the stamp changes)."""
        return SecretValue(self.reveal(), self.ref, version_id)


def _text(item: object) -> str:
    return item if isinstance(item, str) else json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def resolve_secret(ref: SecretRef, observed: Mapping[str, ObservedSecret]) -> SecretValue | str:
    """The value ``ref`` gives from what was read, or why it gives none (a message naming the
    secret or the key; never a value)."""
    secret = observed.get(ref.read_key)
    if secret is None:
        stage = "" if ref.version_stage == AWSCURRENT else f" with a version at stage {ref.version_stage}"
        return f"secret {ref.secret_id}{stage} does not exist in Secrets Manager"
    if secret.binary or secret.value is None:
        return f"secret {ref.secret_id} holds a SecretBinary; only a SecretString can feed a value"
    if ref.key is None:
        return SecretValue(secret.value.reveal(), ref, secret.version_id)
    try:
        document = json.loads(secret.value.reveal())
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return f"secret {ref.secret_id} is not a JSON object, so it has no key {ref.key}"
    if ref.key not in document:
        keys = ", ".join(sorted(str(k) for k in document)) or "none"
        return f"secret {ref.secret_id} has no key {ref.key} (its keys: {keys})"
    return SecretValue(_text(document[ref.key]), ref, secret.version_id)


def versions_label(values: Mapping[str, object]) -> str | None:
    """The label value for the SecretValues among ``values``: compact JSON {secret id: version}
    (None when there are none)."""
    versions = {v.ref.secret_id: v.version_id for v in values.values() if isinstance(v, SecretValue)}
    if not versions:
        return None
    return json.dumps(versions, sort_keys=True, separators=(",", ":"))


def parse_versions_label(text: str | None) -> dict[str, str]:
    """{secret id: version id} from a container's label (empty when absent or unreadable)."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
