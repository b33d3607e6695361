"""The planner's Secrets Manager part: whether a value read from a secret can be given. Pure.

A parameter with ``fromSecretsManager`` is never written: it is Unchanged when
its secret (at its version stage) was read and has the key it names, saying
which version feeds the stacks, and a Problem naming the secret or the key
otherwise (the stacks that read it are then not planned). And, for a container to recreate,
which secrets it reads were rotated since it was made (its secret-versions label), to say so
and to check it against the container's config hash. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.model import ParameterSpec, ServiceSpec, Value
from reconciler.core.observed import ObservedContainer
from reconciler.core.plan import Problem, Unchanged
from reconciler.core.secretsmanager import (
    SECRET_VERSIONS_KEY,
    ObservedSecret,
    SecretValue,
    parse_versions_label,
    resolve_secret,
)
from reconciler.planner.common import ParameterIndex, parameter_address, short
from reconciler.planner.targets import used_keys


def plan_secret(spec: ParameterSpec, secrets: Mapping[str, ObservedSecret]) -> Unchanged | Problem:
    """Unchanged (the secret gives a value; never written) or a Problem naming what is missing."""
    assert spec.secret is not None
    address = parameter_address(spec.name)
    found = resolve_secret(spec.secret, secrets)
    if isinstance(found, SecretValue):
        return Unchanged(
            address,
            f"from Secrets Manager {spec.secret.describe()}, version {short(found.version_id, 8)}; never written",
        )
    where = f" (declared at {spec.source})" if spec.source else ""
    return Problem(address, f"{found}{where}")


def rotations(
    service: ServiceSpec, index: ParameterIndex, env: Mapping[str, Value], container: ObservedContainer
) -> dict[str, tuple[str, str]]:
    """Secret id -> (version the container was made with, version now) for the secrets the
    service reads whose version changed (from the container's secret-versions label)."""
    made_with = parse_versions_label(container.labels.get(SECRET_VERSIONS_KEY))
    found: dict[str, tuple[str, str]] = {}
    for key in used_keys(service, index, env):
        value = env[key]
        if isinstance(value, SecretValue):
            old = made_with.get(value.ref.secret_id)
            if old is not None and old != value.version_id:
                found[value.ref.secret_id] = (old, value.version_id)
    return found


def at_old_versions(env: Mapping[str, Value], rotated: Mapping[str, tuple[str, str]]) -> dict[str, Value]:
    return {
        key: value.at_version(rotated[value.ref.secret_id][0])
        if isinstance(value, SecretValue) and value.ref.secret_id in rotated
        else value
        for key, value in env.items()
    }


def rotation_reasons(rotated: Mapping[str, tuple[str, str]]) -> tuple[str, ...]:
    return tuple(
        f"secret {secret_id} rotated (version {short(old, 8)} -> {short(new, 8)})"
        for secret_id, (old, new) in sorted(rotated.items())
    )
