"""The planner's per-service decision: create, recreate, start or keep, and why. Pure.

For each service of a stack on a host (in the order given), the containers
Compose made for it are compared with what it should run (its
:class:`ServiceTarget`): none is a :class:`CreateService`; one with another
config hash or owner is a :class:`RecreateService` whose reason names what
changed when it can be told (the image, the variables, with their values
before and after, a rotated secret); a stopped one is a :class:`StartService` (a
:class:`RecreateService` when its network was removed); otherwise the
service is :class:`Unchanged`. Look-alike containers not made by Compose are
never acted on; an action's reason notes them. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from reconciler.core.actions import Action, Change, CreateService, RecreateService, ServiceAction, StartService
from reconciler.core.model import HostSpec, Sensitive, ServiceSpec, ServiceTarget, StackSpec, Value
from reconciler.core.observed import ObservedContainer, ObservedState
from reconciler.core.plan import Unchanged
from reconciler.planner.common import (
    Draft,
    ParameterIndex,
    container_view,
    same_value,
    secret,
    service_address,
    short,
)
from reconciler.planner.secretsmanager import at_old_versions, rotation_reasons, rotations
from reconciler.planner.targets import config_hash, environment, injected_keys, service_networks, used_keys


@dataclass(frozen=True)
class ObservedEnv:
    """The stack's env as SSM holds it now, beside the spec's (``spec_env``, the same for the whole
    stack on a host); each computed once per stack and host, when first needed."""

    stack: StackSpec
    index: ParameterIndex
    observed: ObservedState
    host: HostSpec | None
    spec_env: Mapping[str, Value]

    @cached_property
    def values(self) -> Mapping[str, Value]:
        return environment(self.stack, self.index, self.observed, self.host, as_observed=True)

    @cached_property
    def differing(self) -> frozenset[str]:
        """Names whose value in the spec's env differs from SSM's now."""
        old, new = self.values, self.spec_env
        return frozenset(
            key
            for key in old.keys() | new.keys()
            if key not in old or key not in new or not same_value(old[key], new[key])
        )


@dataclass(frozen=True)
class ServiceInputs:
    """Everything the decision for one service of a stack on a host reads."""

    host: str
    stack: StackSpec
    service: ServiceSpec
    target: ServiceTarget
    env: Mapping[str, Value]
    index: ParameterIndex
    owner: str
    waits: tuple[bool, bool]  # (wait_healthy, wait_completed)
    old_env: ObservedEnv
    missing_networks: frozenset[str] = frozenset()  # keys of the stack's networks gone from the host

    def hash_with(self, image: str, env: Mapping[str, Value], folder: str | None = None) -> str:
        """The config hash the service would have with ``image``, ``env`` and its relative paths
        resolving in ``folder`` (default: the stack's project directory)."""
        where = self.stack.project_folder if folder is None else folder
        return config_hash(self.service, image, self.stack.project, self.index, env, where)


@dataclass(frozen=True)
class RecreateExplanation:
    """Why a container's config hash differs: reason fragments and, when variables changed, their
    values (secret ones as Sensitive) before and after."""

    reasons: tuple[str, ...]
    variables_before: Mapping[str, Value] | None = None
    variables_after: Mapping[str, Value] | None = None


def _target_view(target: ServiceTarget) -> dict[str, object]:
    return {"image": target.image, "config_hash": target.config_hash, "state": "running"}


def _image_change(inputs: ServiceInputs, old_image: str) -> str:
    ref = inputs.service.image
    new_repo, _, new_digest = inputs.target.image.partition("@")
    old_repo, _, old_digest = old_image.partition("@")
    if ref is not None and ref.tag and old_repo == new_repo and old_digest:
        return f"image {ref.key} now resolves to {short(new_digest)} (container runs {short(old_digest)})"
    return f"image changed: {old_image} -> {inputs.target.image}"


def _changed_variables(inputs: ServiceInputs) -> list[str]:
    """Env names the service uses whose spec value differs from SSM's value now."""
    differing = inputs.old_env.differing
    if not differing:
        return []
    used = set(inputs.service.variables) | set(injected_keys(inputs.service, inputs.index))
    return sorted(used & differing)


def _shown(inputs: ServiceInputs, key: str, value: Value) -> Value:
    """A variable's value for a Change: Sensitive when any side of it is secret."""
    secret_key = isinstance(inputs.env.get(key), Sensitive) or isinstance(
        inputs.old_env.values.get(key), Sensitive
    )
    return secret(value) if secret_key else value


def explain_recreate(inputs: ServiceInputs, container: ObservedContainer) -> RecreateExplanation:
    """Why ``container``'s config hash is not the target's: the image, the variables, the secrets it
    reads (rotated: their version ids are in the hash), its project directory (it was made when its
    relative paths resolved in the environment folder), or else the configuration. Each
    explanation is checked by recomputing the container's hash from it."""
    old_hash = container.config_hash
    if old_hash is None:
        return RecreateExplanation(("container has no config hash label",))
    old_image = container.image if container.image and container.image != inputs.target.image else None
    changed = _changed_variables(inputs)
    rotated = rotations(inputs.service, inputs.index, inputs.env, container)
    old_env = inputs.old_env.values
    candidates: list[tuple[str | None, bool, bool]] = []
    for secrets in (False, True) if rotated else (False,):
        if old_image is not None:
            candidates.append((old_image, False, secrets))
        if secrets:
            candidates.append((None, False, True))
        if changed:
            candidates.append((None, True, secrets))
            if old_image is not None:
                candidates.append((old_image, True, secrets))
    for image, variables, secrets in candidates:
        env: Mapping[str, Value] = old_env if variables else inputs.env
        if secrets:
            env = at_old_versions(env, rotated)
        if inputs.hash_with(image or inputs.target.image, env) != old_hash:
            continue
        reasons: tuple[str, ...] = (_image_change(inputs, image),) if image is not None else ()
        if secrets:
            reasons += rotation_reasons(rotated)
        if not variables:
            return RecreateExplanation(reasons)
        return RecreateExplanation(
            (*reasons, f"variables changed: {', '.join(changed)}"),
            variables_before={k: _shown(inputs, k, old_env[k]) for k in changed if k in old_env},
            variables_after={k: _shown(inputs, k, inputs.env[k]) for k in changed if k in inputs.env},
        )
    image_reasons = (_image_change(inputs, old_image),) if old_image is not None else ()
    if _moved_project_dir(inputs, old_hash):
        paths = ", ".join(inputs.service.host_paths)
        folder = inputs.stack.project_folder
        return RecreateExplanation((
            f"its relative paths ({paths}) now resolve in {folder}/, not the environment folder",
        ))
    configuration = f"configuration changed (hash {short(old_hash)} -> {short(inputs.target.config_hash)})"
    return RecreateExplanation((*image_reasons, configuration))


def _moved_project_dir(inputs: ServiceInputs, old_hash: str) -> bool:
    """The container was made with the environment folder as project directory (as before the
    project directory followed the compose file), and nothing else differs."""
    if inputs.stack.project_folder == "." or not inputs.service.host_paths:
        return False
    return inputs.hash_with(inputs.target.image, inputs.env, folder=".") == old_hash


def _action(
    cls: type[ServiceAction], inputs: ServiceInputs, change: Change, reason: str, ids: Iterable[str]
) -> ServiceAction:
    return cls(
        change=change,
        reason=reason,
        host=inputs.host,
        stack=inputs.stack.name,
        project=inputs.stack.project,
        service=inputs.service.name,
        owner=inputs.owner,
        config_hash=inputs.target.config_hash,
        image=inputs.target.image,
        container_ids=tuple(sorted(ids)),
        wait_healthy=inputs.waits[0],
        wait_completed=inputs.waits[1],
        depends_on=tuple(sorted({d.service for d in inputs.service.depends_on} - {inputs.service.name})),
        needs=(),
    )


def _recreate(
    inputs: ServiceInputs, containers: Sequence[ObservedContainer], stale: Sequence[ObservedContainer]
) -> ServiceAction:
    """The RecreateService for containers of which some run another config hash or owner."""
    owner, target = inputs.owner, inputs.target
    culprit = min(stale, key=lambda c: c.id)
    before = container_view(culprit)
    after = _target_view(target)
    reasons: list[str] = []
    if culprit.owner != owner:
        before["owner"] = culprit.owner
        after["owner"] = owner
        reasons.append(
            "container has no owner label (adopting)"
            if culprit.owner is None
            else f"container owned by {culprit.owner} (taking over)"
        )
    if culprit.config_hash != target.config_hash:
        explanation = explain_recreate(inputs, culprit)
        reasons += explanation.reasons
        if explanation.variables_before is not None:
            before["variables"] = explanation.variables_before
        if explanation.variables_after is not None:
            after["variables"] = explanation.variables_after
    change = Change(service_address(inputs.host, inputs.stack.name, inputs.service.name), before, after)
    return _action(RecreateService, inputs, change, "; ".join(reasons), (c.id for c in containers))


def plan_service(inputs: ServiceInputs, containers: Sequence[ObservedContainer]) -> ServiceAction | Unchanged:
    """Create, recreate, start or keep one service, given the containers Compose made for it."""
    service, target = inputs.service, inputs.target
    address = service_address(inputs.host, inputs.stack.name, service.name)
    if not containers:
        after = _target_view(target)
        after["environment"] = used_keys(service, inputs.index, inputs.env)
        return _action(CreateService, inputs, Change(address, None, after), "not found", ())
    stale = [c for c in containers if c.config_hash != target.config_hash or c.owner != inputs.owner]
    if stale:
        return _recreate(inputs, containers, stale)
    stopped = [c for c in containers if c.state != "running"]
    if stopped:
        first = min(stopped, key=lambda c: c.id)
        states = ", ".join(sorted({c.state for c in stopped}))
        reason = (
            f"container stopped ({states})"
            if len(containers) == 1
            else f"{len(stopped)} of {len(containers)} containers stopped ({states})"
        )
        change = Change(address, container_view(first), _target_view(target))
        gone = sorted(inputs.missing_networks & service_networks(service))
        if gone:
            # a stopped container cannot start once its network was removed: Docker refuses
            reason += f"; its network {', '.join(gone)} was removed, so it is recreated"
            return _action(RecreateService, inputs, change, reason, (c.id for c in containers))
        return _action(StartService, inputs, change, reason, (c.id for c in stopped))
    count = f"{len(containers)} containers " if len(containers) > 1 else ""
    unhealthy = " (unhealthy)" if any(c.health == "unhealthy" for c in containers) else ""
    return Unchanged(address, f"{count}running with config hash {short(target.config_hash)}{unhealthy}")


def _noted(decision: ServiceAction | Unchanged, lookalikes: Sequence[ObservedContainer]) -> ServiceAction | Unchanged:
    """Containers that carry the service's labels but were not made by Compose are never acted on
    or waited for; an action on the service says they were seen (each is also listed as unchanged,
    by :func:`reconciler.planner.leftovers.plan_lookalikes`)."""
    if not lookalikes or isinstance(decision, Unchanged):
        return decision
    names = ", ".join(sorted(c.name for c in lookalikes))
    note = f"; {len(lookalikes)} look-alike container(s) not made by Compose left alone ({names})"
    return replace(decision, reason=decision.reason + note)


def _by_service(containers: Iterable[ObservedContainer]) -> dict[str, list[ObservedContainer]]:
    groups: dict[str, list[ObservedContainer]] = {}
    for c in containers:
        groups.setdefault(c.service, []).append(c)
    return groups


def plan_services(
    services: Iterable[ServiceInputs],
    containers: Sequence[ObservedContainer],
    lookalikes: Sequence[ObservedContainer],
) -> Draft:
    """One decision per service, in the order given: its actions and what it leaves unchanged.

    ``containers`` are the ones Compose made for the stack on the host;
    ``lookalikes`` carry its labels but were not made by Compose.
    """
    made, seen = _by_service(containers), _by_service(lookalikes)
    actions: list[Action] = []
    unchanged: list[Unchanged] = []
    for inputs in services:
        name = inputs.service.name
        decision = _noted(plan_service(inputs, made.get(name, ())), seen.get(name, ()))
        if isinstance(decision, Unchanged):
            unchanged.append(decision)
        else:
            actions.append(decision)
    return Draft(actions=tuple(actions), unchanged=tuple(unchanged))
