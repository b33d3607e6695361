"""The planner's Secrets Manager part: whether a value read from a secret can be given. Pure.

A parameter with ``fromSecretsManager`` is never written: it is Unchanged when
its secret (at its version stage) was read and has the key it names, saying
which version feeds the stacks, and a Problem naming the secret or the key
otherwise (the stacks that read it are then not planned). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.model import ParameterSpec
from reconciler.core.plan import Problem, Unchanged
from reconciler.core.secretsmanager import ObservedSecret, SecretValue, resolve_secret
from reconciler.planner.common import parameter_address, short


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
