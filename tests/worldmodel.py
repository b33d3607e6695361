"""A model of the world for property tests: apply a plan to an ObservedState. Pure.

``apply_plan`` does what the executor and AWS/Docker would do for each action,
on plain values: puts set value (and tags on create/adopt), deletes remove,
pulls add a local image, create/recreate make one running container with the
target hash and ownership labels, start sets running, remove drops
containers, networks and volumes appear, a job that ran is recorded as done. Then ``plan`` again must be empty.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.actions import (
    Action,
    CreateService,
    DeleteParameter,
    ExpectNetwork,
    ExpectVolume,
    HostAction,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveContainer,
    RemoveNetwork,
    RemoveService,
    RunJob,
    StartService,
)
from reconciler.core.model import (
    COMPOSE_CONTAINER_NUMBER,
    COMPOSE_ONEOFF,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    STACK_KEY,
    DesiredState,
)
from reconciler.core.observed import (
    ObservedContainer,
    ObservedHost,
    ObservedNetwork,
    ObservedParameter,
    ObservedState,
    ObservedVolume,
)
from reconciler.core.plan import Plan


def _oneoff(c: ObservedContainer) -> bool:
    return c.labels.get(COMPOSE_ONEOFF, "False") == "True"


def apply_plan(plan: Plan, desired: DesiredState, observed: ObservedState) -> ObservedState:
    """Every action applied, host by host (actions on other hosts leave a host alone)."""
    params = dict(observed.parameters)
    parameter_actions = [a for a in plan.actions if not isinstance(a, HostAction)]
    _apply_host(parameter_actions, desired, ObservedHost("-"), params)
    hosts = {}
    for name in sorted({*observed.hosts, *(h.name for h in desired.hosts)}):
        actions = [a for a in plan.actions if isinstance(a, HostAction) and a.host == name]
        hosts[name] = _apply_host(actions, desired, observed.host(name), params)
    # a job that ran is recorded in the state store (its success; the model's jobs never fail)
    done = {(a.stack, a.job, a.job_hash) for a in plan.actions if isinstance(a, RunJob)}
    return ObservedState(parameters=params, image_digests=observed.image_digests, hosts=hosts,
                         jobs_done=observed.jobs_done | done)  # fmt: skip


def _apply_host(
    actions: list[Action], desired: DesiredState, host: ObservedHost, params: dict[str, ObservedParameter]
) -> ObservedHost:
    local = set(host.local_images)
    containers = list(host.containers)
    networks = list(host.networks)
    volumes = list(host.volumes)
    ownership = {OWNER_KEY: desired.owner, ENVIRONMENT_KEY: desired.environment}
    created = 0
    for action in actions:
        if isinstance(action, PutParameter):
            old = params.get(action.name)
            if action.create or old is None:
                params[action.name] = ObservedParameter(
                    action.name, action.type, action.value, 1, dict(ownership)
                )
            else:
                tags = old.tags
                if action.adopt:
                    tags = {**(old.tags or {}), **ownership}
                params[action.name] = ObservedParameter(
                    action.name, action.type, action.value, old.version + 1, tags
                )
        elif isinstance(action, DeleteParameter):
            params.pop(action.name, None)
        elif isinstance(action, PullImage):
            local.add(action.reference)
        elif isinstance(action, ExpectNetwork):
            networks.append(ObservedNetwork(f"{action.project}_{action.key}", action.project, action.key))
        elif isinstance(action, ExpectVolume):
            volumes.append(ObservedVolume(f"{action.project}_{action.key}", action.project, action.key))
        elif isinstance(action, CreateService | RecreateService):
            containers = [
                c
                for c in containers
                if _oneoff(c) or not (c.project == action.project and c.service == action.service)
            ]
            created += 1
            containers.append(
                ObservedContainer(
                    id=f"new-{action.project}-{action.service}-{created}",
                    name=f"{action.project}-{action.service}-1",
                    project=action.project,
                    service=action.service,
                    state="running",
                    health="healthy" if action.wait_healthy else None,
                    labels={
                        COMPOSE_PROJECT: action.project,
                        COMPOSE_SERVICE: action.service,
                        COMPOSE_ONEOFF: "False",
                        COMPOSE_CONTAINER_NUMBER: "1",
                        STACK_KEY: action.stack,
                        CONFIG_HASH_KEY: action.config_hash,
                        **ownership,
                    },
                    image=action.image,
                )
            )
        elif isinstance(action, StartService):
            ids = set(action.container_ids)
            containers = [replace(c, state="running") if c.id in ids else c for c in containers]
        elif isinstance(action, RemoveNetwork):
            networks = [n for n in networks if n.id != action.network_id]
        elif isinstance(action, RemoveContainer):
            containers = [c for c in containers if c.id != action.container_id]
        elif isinstance(action, RemoveService):
            ids = set(action.container_ids)
            containers = [c for c in containers if c.id not in ids]
        elif isinstance(action, RunJob):
            pass  # a one-off container, removed when it exits; recorded by apply_plan
        else:  # pragma: no cover - a new action kind must be modelled here
            raise AssertionError(f"worldmodel does not know {type(action).__name__}")
    return ObservedHost(
        host.name,
        local_images=frozenset(local),
        containers=tuple(containers),
        networks=tuple(networks),
        volumes=tuple(volumes),
        error=host.error,
    )
