"""Build model objects from the compact case format of tests/planner/cases/*.yaml.

A case is ``{description, desired, observed, expected_actions, ...}``; this
module turns ``desired`` and ``observed`` into DesiredState / ObservedState.
Shorthands keep the cases readable: digests are written as short tokens
(``b1`` -> ``sha256:<sha256 of "b1">``), images without a registry live in
:data:`REGISTRY`, a container's ``hash: target`` is the hash the planner wants.

desired: ``sets: {name: {path, prune, parameters: {KEY: value | {type, value,
external}}}}``, ``images: {name: {repository, tag | digest}}``, ``stacks:
{name: {project?, project_folder?, parameter_sets, networks, volumes, prune, services: {name:
{image | compose_image, variables, environment_from, host_paths, depends_on: {svc:
condition}}}}}``.
Parameters may be ``{from_secrets_manager: {secret_id, key?, stage?}}``.
observed: ``secrets: {secret id: {version, value, stage?, binary?}}``,
``parameters: {full name: {value, type, owner | tags}}`` (no
owner/tags key: tags not read; ``owner: null``: read, none), ``registry:
{repository:tag: token}``, ``local: [repository@token]``, ``containers: [{stack?,
service, id?, project?, state, health, owner (default ours, null = no label),
hash (target | stale | as-observed | old-image | as-observed-old-image | env-folder
(made with the environment folder as project directory) | old-secrets (made with the secrets at
its ``secret_versions``: {secret id: version}, also its label) | null),
image (target | repository@token | plain), oneoff, lookalike (no Compose labels but project and
service), name}]``, ``networks`` /
``volumes``: ``{stack or project: [keys]}``; ``jobs_done: [stack/job | stack/job@hash]`` (a job that
succeeded for the configuration the plan wants, or for another). Stacks may have ``jobs: {name:
{service, before: [services], command?, timeout?}}``.
expected: ``expected_actions: [[kind, address]]`` (in order),
``expected_problems: [address]``, ``expected_fields: {address: {field: value}}``,
``expected_reasons: {address: fragment}``, ``expected_unchanged: [address]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from reconciler.core.model import (
    COMPOSE_CONTAINER_NUMBER,
    COMPOSE_ONEOFF,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    CONFIG_HASH_KEY,
    DEFAULT_HOST,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    STACK_KEY,
    Dependency,
    DesiredState,
    HostSpec,
    ImageSpec,
    JobSpec,
    ParameterPath,
    ParameterSpec,
    ParamType,
    Sensitive,
    ServiceSpec,
    StackSpec,
    Value,
)
from reconciler.core.observed import (
    ObservedContainer,
    ObservedHost,
    ObservedNetwork,
    ObservedParameter,
    ObservedState,
    ObservedVolume,
)
from reconciler.core.secretsmanager import SECRET_VERSIONS_KEY, ObservedSecret, SecretRef, SecretValue, read_key
from reconciler.planner import service_targets
from reconciler.planner.common import ParameterIndex
from reconciler.planner.jobs import job_hash
from reconciler.planner.targets import config_hash, environment

REGISTRY = "127.0.0.1:5000"
ENVIRONMENT = "dev"
OWNER = "popcon-dev"


def digest(token: str) -> str:
    """A full sha256 digest from a short token (a full digest is kept)."""
    if token.startswith("sha256:") and len(token) == 71:
        return token
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _value(type_: ParamType, raw: object) -> Value:
    if isinstance(raw, list):
        raw = ",".join(str(item) for item in raw)
    text = str(raw)
    return Sensitive(text) if type_ == "SecureString" else text


def _parameters(sets: Mapping[str, Any]) -> tuple[tuple[ParameterSpec, ...], tuple[ParameterPath, ...]]:
    params: list[ParameterSpec] = []
    paths: list[ParameterPath] = []
    for set_name, body in sets.items():
        path = str(body["path"])
        secure = False
        for key, entry in (body.get("parameters") or {}).items():
            spec = entry if isinstance(entry, Mapping) else {"value": entry}
            source = spec.get("from_secrets_manager")
            if source is not None:
                ref = SecretRef(str(source["secret_id"]), source.get("key"), str(source.get("stage", "AWSCURRENT")))
                name = f"{path}/{key}"
                where = f"{set_name}.yaml:1"
                params.append(ParameterSpec(name, key, "SecureString", None, set_name, False, where, ref))
                continue
            type_ = cast(ParamType, spec.get("type", "String"))
            secure = secure or type_ == "SecureString"
            external = bool(spec.get("external", False))
            params.append(
                ParameterSpec(
                    name=f"{path}/{key}",
                    key=key,
                    type=type_,
                    value=None if external else _value(type_, spec["value"]),
                    set_name=set_name,
                    managed=not external,
                    source=f"{set_name}.yaml:1",
                )
            )
        paths.append(ParameterPath(path, set_name, bool(body.get("prune", False)), secure))
    return tuple(params), tuple(paths)


def _image(name: str, body: Mapping[str, Any]) -> ImageSpec:
    return ImageSpec(
        name=name,
        registry=str(body.get("registry", REGISTRY)),
        repository=str(body["repository"]),
        tag=str(body["tag"]) if "tag" in body else None,
        digest=digest(str(body["digest"])) if "digest" in body else None,
    )


def _service(name: str, body: Mapping[str, Any], images: Mapping[str, ImageSpec]) -> ServiceSpec:
    image_name = body.get("image")
    ref = images[str(image_name)] if image_name is not None else None
    definition = body.get("definition")
    if definition is None:
        definition = {"image": str(body.get("compose_image", f"{REGISTRY}/popcon/{name}:latest"))}
        if body.get("variables"):
            definition["environment"] = {v: "${" + v + "}" for v in body["variables"]}
    depends = body.get("depends_on") or {}
    return ServiceSpec(
        name=name,
        definition=canonical(definition),
        image=ref,
        variables=tuple(body.get("variables") or ()),
        environment_from=tuple(body.get("environment_from") or ()),
        depends_on=tuple(Dependency(str(dep), cond) for dep, cond in depends.items()),
        healthcheck=bool(body.get("healthcheck", False)),
        host_paths=tuple(body.get("host_paths") or ()),
    )


def _jobs(jobs: Mapping[str, Any]) -> tuple[JobSpec, ...]:
    return tuple(
        JobSpec(
            str(name),
            str(body["service"]),
            tuple(body.get("command") or ["./migrate.sh"]),
            tuple(body["before"]),
            float(body.get("timeout", 600)),
        )
        for name, body in sorted(jobs.items())
    )


def desired_state(data: Mapping[str, Any]) -> DesiredState:
    params, paths = _parameters(data.get("sets") or {})
    images = {name: _image(name, body) for name, body in (data.get("images") or {}).items()}
    environment = str(data.get("environment", ENVIRONMENT))
    host_names = [str(h) for h in data.get("hosts") or [DEFAULT_HOST]]
    host_vars = data.get("host_variables") or {}
    stacks = []
    for name, body in (data.get("stacks") or {}).items():
        services = tuple(_service(s, b or {}, images) for s, b in (body.get("services") or {}).items())
        stacks.append(
            StackSpec(
                name=name,
                project=str(body.get("project", f"{environment}-{name}")),
                compose_file=Path(f"/envs/{environment}/{name}.yml"),
                project_dir=Path(f"/envs/{environment}"),
                services=services,
                parameter_sets=tuple(body.get("parameter_sets") or ()),
                networks=tuple(body.get("networks") or ()),
                volumes=tuple(body.get("volumes") or ()),
                prune_services=bool(body.get("prune", True)),
                hosts=tuple(str(h) for h in body.get("hosts") or [host_names[0]]),
                project_folder=str(body.get("project_folder", ".")),
                jobs=_jobs(body.get("jobs") or {}),
            )
        )
    return DesiredState(
        environment=environment,
        owner=str(data.get("owner", OWNER)),
        parameters=params,
        parameter_paths=paths,
        images=tuple(images.values()),
        stacks=tuple(stacks),
        hosts=tuple(
            HostSpec(name, None, variables={str(k): str(v) for k, v in (host_vars.get(name) or {}).items()})
            for name in host_names
        ),
    )


def _tags(body: Mapping[str, Any]) -> Mapping[str, str] | None:
    if "tags" in body:
        tags = body["tags"]
        return None if tags is None else {str(k): str(v) for k, v in tags.items()}
    if "owner" in body:
        owner = body["owner"]
        return {} if owner is None else {OWNER_KEY: str(owner), ENVIRONMENT_KEY: ENVIRONMENT}
    return None


def _reference(text: str) -> str:
    """``popcon/backend@b1`` -> ``127.0.0.1:5000/popcon/backend@sha256:...``."""
    repo, _, token = text.partition("@")
    if "/" not in repo.split("/")[0] and not repo.startswith(REGISTRY) and ":" not in repo.split("/")[0]:
        repo = f"{REGISTRY}/{repo}"
    return f"{repo}@{digest(token)}"


def observed_state(data: Mapping[str, Any], desired: DesiredState) -> ObservedState:
    """The observed state; containers may refer to the planner's targets (``hash: target``).

    ``local``, ``containers``, ``networks`` and ``volumes`` at the top level are the
    first host's; ``hosts: {name: {local, containers, networks, volumes} | unreachable}``
    gives other hosts (``unreachable: message`` = the host could not be read)."""
    params = {}
    for name, body in (data.get("parameters") or {}).items():
        spec = body if isinstance(body, Mapping) else {"value": body}
        type_ = cast(ParamType, spec.get("type", "String"))
        params[name] = ObservedParameter(
            name=name,
            type=type_,
            value=_value(type_, spec["value"]),
            version=int(spec.get("version", 1)),
            tags=_tags(spec),
        )
    digests = {f"{REGISTRY}/{key}": digest(str(token)) for key, token in (data.get("registry") or {}).items()}
    secrets = {}
    for secret_id, body in (data.get("secrets") or {}).items():
        stage = str(body.get("stage", "AWSCURRENT"))
        value = body.get("value")
        secrets[read_key(str(secret_id), stage)] = ObservedSecret(
            str(secret_id), stage, str(body["version"]), value=None if value is None else Sensitive(str(value)),
            binary=bool(body.get("binary", False)),
        )  # fmt: skip
    base = ObservedState(parameters=params, image_digests=digests, secrets=secrets)
    per_host: dict[str, Mapping[str, Any]] = {desired.hosts[0].name: data}
    per_host.update({str(k): v or {} for k, v in (data.get("hosts") or {}).items()})
    hosts = {name: _host(name, body, desired, base) for name, body in per_host.items()}
    return ObservedState(parameters=params, image_digests=digests, hosts=hosts, secrets=secrets,
                         jobs_done=_jobs_done(data.get("jobs_done") or [], desired, base))  # fmt: skip


def _jobs_done(entries: list[str], desired: DesiredState, base: ObservedState) -> frozenset[tuple[str, str, str]]:
    """``stack/job`` (succeeded for the configuration the plan wants: the hash over the stack's
    hosts' targets) or ``stack/job@hash`` (for another)."""
    done: set[tuple[str, str, str]] = set()
    stacks = {s.name: s for s in desired.stacks}
    for entry in entries:
        name, _, given = str(entry).partition("@")
        stack_name, _, job_name = name.partition("/")
        stack = stacks[stack_name]
        job = next(j for j in stack.jobs if j.name == job_name)
        wanted = {h: service_targets(stack, desired, base, h) for h in stack.hosts}
        done.add((stack_name, job_name, given or job_hash(job, wanted)))
    return frozenset(done)


def _host(name: str, data: Mapping[str, Any], desired: DesiredState, base: ObservedState) -> ObservedHost:
    if data.get("unreachable"):
        return ObservedHost(name, error=str(data["unreachable"]))
    local_images = frozenset(_reference(str(r)) for r in data.get("local") or ())
    stacks = {s.name: s for s in desired.stacks}
    containers = []
    for n, body in enumerate(data.get("containers") or ()):
        stack = stacks.get(str(body.get("stack", ""))) if body.get("stack") else None
        if stack is None and len(stacks) == 1:
            stack = next(iter(stacks.values()))
        project = str(body.get("project", stack.project if stack else "other"))
        service = str(body["service"])
        target = None
        if stack is not None and service in {s.name for s in stack.services}:
            try:
                target = service_targets(stack, desired, base, name)[service]
            except Exception:
                target = None
        image = str(body.get("image", "target"))
        if image == "target":
            image = target.image if target else f"{REGISTRY}/unknown@{digest('unknown')}"
        elif "@" in image:
            image = _reference(image)
        hash_ = body.get("hash", "target")
        if hash_ == "target":
            hash_ = target.config_hash if target else "0" * 64
        elif hash_ == "stale":
            hash_ = "f" * 64
        elif hash_ == "env-folder" and stack is not None and target is not None:
            # made when the stack's relative paths resolved in the environment folder
            service_spec = next(s for s in stack.services if s.name == service)
            index = ParameterIndex.build(desired)
            env = environment(stack, index, base, desired.host(name))
            hash_ = config_hash(service_spec, target.image, stack.project, index, env, ".")
        elif hash_ == "old-secrets" and stack is not None and target is not None:
            # made when the secrets it reads were at the versions of its secret_versions
            service_spec = next(s for s in stack.services if s.name == service)
            index = ParameterIndex.build(desired)
            old = body.get("secret_versions") or {}
            env = {
                k: v.at_version(str(old[v.ref.secret_id]))
                if isinstance(v, SecretValue) and v.ref.secret_id in old
                else v
                for k, v in environment(stack, index, base, desired.host(name)).items()
            }
            hash_ = config_hash(service_spec, target.image, stack.project, index, env, stack.project_folder)
        elif hash_ in ("as-observed", "old-image", "as-observed-old-image") and target is None:
            hash_ = "e" * 64  # no target (image missing): just some other hash
        elif hash_ in ("as-observed", "old-image", "as-observed-old-image"):
            # the hash the container got when it was made from what SSM holds
            # now (as-observed) and/or from the image it runs (old-image)
            assert stack is not None and target is not None
            service_spec = next(s for s in stack.services if s.name == service)
            index = ParameterIndex.build(desired)
            env = environment(stack, index, base, desired.host(name), as_observed=hash_ != "old-image")
            made_from = image if hash_ != "as-observed" else target.image
            hash_ = config_hash(service_spec, made_from, stack.project, index, env, stack.project_folder)
        labels = {COMPOSE_PROJECT: project, COMPOSE_SERVICE: service}
        if not body.get("lookalike"):  # a look-alike only carries the project's and service's labels
            labels[COMPOSE_ONEOFF] = "True" if body.get("oneoff") else "False"
            labels[COMPOSE_CONTAINER_NUMBER] = "1"
        owner = body.get("owner", desired.owner)
        if owner is not None:
            labels[OWNER_KEY] = str(owner)
            labels[ENVIRONMENT_KEY] = desired.environment
            if stack is not None:
                labels[STACK_KEY] = stack.name
        if hash_ is not None:
            labels[CONFIG_HASH_KEY] = str(hash_)
        if body.get("secret_versions"):
            labels[SECRET_VERSIONS_KEY] = canonical(body["secret_versions"])
        elif body.get("hash", "target") == "target" and target is not None and target.secret_versions:
            labels[SECRET_VERSIONS_KEY] = target.secret_versions
        containers.append(
            ObservedContainer(
                id=str(body.get("id", f"{service}-{n}")),
                name=str(body.get("name", f"{project}-{service}-{n + 1}")),
                project=project,
                service=service,
                state=str(body.get("state", "running")),
                health=body.get("health"),
                labels=labels,
                image=image,
            )
        )
    networks = []
    volumes = []
    for stack_name, keys in (data.get("networks") or {}).items():
        project = stacks[stack_name].project if stack_name in stacks else stack_name
        networks += [
            ObservedNetwork(f"{project}_{k}", project, k, id=f"{i:012x}{k}", created=f"2026-01-01T00:00:{i:02d}Z")
            for i, k in enumerate(keys)
        ]
    for stack_name, keys in (data.get("volumes") or {}).items():
        project = stacks[stack_name].project if stack_name in stacks else stack_name
        volumes += [ObservedVolume(f"{project}_{k}", project, k) for k in keys]
    return ObservedHost(
        name,
        local_images=local_images,
        containers=tuple(containers),
        networks=tuple(networks),
        volumes=tuple(volumes),
    )
