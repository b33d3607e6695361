"""The planner's service targets: stack environment, config hash, pinned images. Pure.

What each service of a stack should run (:class:`ServiceTarget`): the image
pinned by digest and the config hash label, sha256 of the canonical JSON of
the raw compose definition, the pinned image, the project and the values of
the parameters (and host variables) the service interpolates or gets
injected, and where its relative host paths resolve when that is not the
environment folder. The hash is the only place secret values are revealed, and only
into a sha256; a value from Secrets Manager goes in as its secret's version id
(:attr:`~reconciler.core.secretsmanager.SecretValue.stamp`), so a rotation changes
exactly the hashes of the services that read it. No I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.model import (
    DEFAULT_HOST,
    DesiredState,
    HostSpec,
    ImageSpec,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
    Value,
    reveal,
)
from reconciler.core.observed import ObservedState
from reconciler.core.secretsmanager import SecretValue, resolve_secret, versions_label
from reconciler.planner.common import ParameterIndex, secret
from reconciler.planner.images import resolve


def stack_sets(stack: StackSpec) -> list[str]:
    """Sets feeding the stack: its parameterSets, then every service's environmentFrom."""
    names: list[str] = []
    for name in stack.parameter_sets:
        if name not in names:
            names.append(name)
    for service in stack.services:
        for name in service.environment_from:
            if name not in names:
                names.append(name)
    return names


def environment(
    stack: StackSpec,
    index: ParameterIndex,
    observed: ObservedState,
    host: HostSpec | None = None,
    *,
    as_observed: bool = False,
) -> dict[str, Value]:
    """Env name -> value for every key of the stack's sets, then the host's variables.

    Managed values come from the spec (or, with ``as_observed``, from what SSM
    holds now: the values the running containers were most likely made
    with); external values always from SSM; values from Secrets Manager
    always from the secret as read (a :class:`SecretValue`). SecureString values stay
    Sensitive. Keys without a value (missing external, missing secret or key) are left out.
    """
    env: dict[str, Value] = {}
    for set_name in stack_sets(stack):
        for spec in index.by_set.get(set_name, ()):
            if spec.key in env:
                continue
            if spec.secret is not None:
                found = resolve_secret(spec.secret, observed.secrets)
                if isinstance(found, SecretValue):
                    env[spec.key] = found
                continue
            current = observed.parameters.get(spec.name)
            value: Value
            if spec.managed and not as_observed:
                if spec.value is None:
                    continue
                value = spec.value
            elif current is not None:
                value = current.value
            else:
                continue
            if spec.type == "SecureString" or (current is not None and current.type == "SecureString"):
                value = secret(value)
            env[spec.key] = value
    if host is not None:
        for name, plain in host.variables.items():
            env.setdefault(name, plain)
    return env


def injected_keys(service: ServiceSpec, index: ParameterIndex) -> list[str]:
    """Keys of the service's environmentFrom sets, in declaration order."""
    keys: dict[str, None] = {}
    for set_name in service.environment_from:
        for spec in index.by_set.get(set_name, ()):
            keys.setdefault(spec.key)
    return list(keys)


def used_keys(service: ServiceSpec, index: ParameterIndex, env: Mapping[str, Value]) -> list[str]:
    """Env names that go into the service's config hash: interpolated variables and injected keys."""
    keys = {name for name in service.variables if name in env}
    keys.update(key for key in injected_keys(service, index) if key in env)
    return sorted(keys)


def parameters_read(stack: StackSpec, index: ParameterIndex) -> dict[str, frozenset[str]]:
    """Service -> the parameter names whose keys it uses (interpolated or injected). A key comes
    from the first of the stack's sets that defines it, as in :func:`environment`."""
    source: dict[str, str] = {}
    for set_name in stack_sets(stack):
        for spec in index.by_set.get(set_name, ()):
            source.setdefault(spec.key, spec.name)
    reads: dict[str, frozenset[str]] = {}
    for service in stack.services:
        keys = {*service.variables, *injected_keys(service, index)}
        reads[service.name] = frozenset(source[k] for k in keys if k in source)
    return reads


def hashed(value: Value) -> str:
    """What a value puts in the config hash: a secret's version stamp, else the value itself."""
    return value.stamp if isinstance(value, SecretValue) else reveal(value)


def _definition(service: ServiceSpec) -> object:
    try:
        parsed: object = json.loads(service.definition)
    except ValueError:
        return service.definition
    return parsed


def service_networks(service: ServiceSpec) -> frozenset[str]:
    """The compose network keys the service joins (``default`` when it names none; none with a
    ``network_mode``)."""
    definition = _definition(service)
    if not isinstance(definition, dict):
        return frozenset({"default"})
    if definition.get("network_mode"):
        return frozenset()
    networks = definition.get("networks")
    if isinstance(networks, dict):
        return frozenset(str(k) for k in networks)
    if isinstance(networks, list):
        return frozenset(str(k) for k in networks)
    return frozenset({"default"})


def compose_image(service: ServiceSpec) -> str:
    """The image string of the compose definition ("" when it has none, e.g. build only)."""
    definition = _definition(service)
    if isinstance(definition, dict):
        image = definition.get("image")
        if isinstance(image, str):
            return image
    return ""


def config_hash(
    service: ServiceSpec,
    image: str,
    project: str,
    index: ParameterIndex,
    env: Mapping[str, Value],
    folder: str = ".",
) -> str:
    """sha256 hex of the canonical JSON of what makes the service's container.

    {definition, image, project, variables: interpolated names the env
    provides, environment: keys of environmentFrom sets}, values revealed;
    plus ``project_dir``, the stack's project directory relative to the
    environment folder (``folder``), when the service names relative host
    paths and that directory is not the environment folder itself (so the
    hashes of stacks whose compose file sits in the environment folder are
    what they always were).
    """
    document: dict[str, object] = {
        "definition": _definition(service),
        "image": image,
        "project": project,
        "variables": {name: hashed(env[name]) for name in service.variables if name in env},
        "environment": {key: hashed(env[key]) for key in injected_keys(service, index) if key in env},
    }
    if service.host_paths and folder != ".":
        document["project_dir"] = folder
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stack_digests(stack: StackSpec, observed: ObservedState) -> tuple[dict[str, str], dict[str, ImageSpec]]:
    """(image name -> digest for resolved images, image name -> ref for missing ones)."""
    digests: dict[str, str] = {}
    missing: dict[str, ImageSpec] = {}
    for service in stack.services:
        ref = service.image
        if ref is None:
            continue
        digest = resolve(ref, observed)
        if digest is None:
            missing[ref.name] = ref
        else:
            digests[ref.name] = digest
    return digests, missing


def targets(
    stack: StackSpec, index: ParameterIndex, env: Mapping[str, Value], digests: Mapping[str, str]
) -> dict[str, ServiceTarget]:
    out: dict[str, ServiceTarget] = {}
    for service in stack.services:
        ref = service.image
        image = ref.pinned(digests[ref.name]) if ref is not None else compose_image(service)
        used = {key: env[key] for key in used_keys(service, index, env)}
        out[service.name] = ServiceTarget(
            image, config_hash(service, image, stack.project, index, env, stack.project_folder), versions_label(used)
        )
    return out


def service_targets(
    stack: StackSpec, desired: DesiredState, observed: ObservedState, host: str = DEFAULT_HOST
) -> dict[str, ServiceTarget]:
    """Service name -> what it should run on ``host`` (pinned image, config hash). Pure.

    Services whose image does not resolve are left out (the planner reports
    those as a Problem and never plans such a stack).
    """
    index = ParameterIndex.build(desired)
    digests, missing = stack_digests(stack, observed)
    env = environment(stack, index, observed, desired.host(host))
    resolved = [s for s in stack.services if s.image is None or s.image.name not in missing]
    return targets(replace(stack, services=tuple(resolved)), index, env, digests)
