"""Hypothesis properties of the pure core: convergence, determinism, ownership, masking.

Desired states: parameter sets (String, StringList, SecureString, external),
images by tag or digest, stacks whose services interpolate and inject
parameters and depend on each other (a DAG). Observed states drift from
them: missing / changed / retyped / foreign / owned / untagged parameters,
extra parameters, moved or missing tags, missing local images, containers
stopped, missing, stale, unlabelled, foreign, orphaned, one-off, in other
projects. The world model (tests/worldmodel.py) applies a plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner.build import desired_state, observed_state
from worldmodel import apply_plan

from reconciler.core.actions import DeleteParameter, RemoveContainer, RemoveService
from reconciler.core.model import OWNER_KEY, DesiredState
from reconciler.core.observed import ObservedState
from reconciler.planner import ownership_queries, plan
from reconciler.render import render_json, render_markdown, render_text

OWNER = "popcon-dev"
FOREIGN = "someone-else"
SECRET_PREFIX = "s3cr3t!"
KEYS = ["A", "B", "C", "DB_HOST", "DB_PASSWORD", "TOKEN", "PORT", "URLS"]
PATHS = ["/app/dev", "/app/dev/secrets", "/app/misc"]
SERVICES = ["web", "api", "db", "cache", "worker"]
CONDITIONS = ["service_started", "service_healthy", "service_completed_successfully"]

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

plain = st.text(alphabet="abcdefgh-", min_size=1, max_size=6)
secrets = st.text(alphabet="QWXYZ789", min_size=4, max_size=8).map(lambda s: SECRET_PREFIX + s)
items = st.lists(st.text(alphabet="abcdef", min_size=1, max_size=4), min_size=1, max_size=3)
tag_choices: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [{"tags": None}, {"owner": None}, {"owner": OWNER}, {"owner": FOREIGN}]
)


def _value(draw: st.DrawFn, type_: str) -> str:
    if type_ == "SecureString":
        return draw(secrets)
    if type_ == "StringList":
        return ",".join(draw(items))
    return draw(plain)


@st.composite
def desired_specs(draw: st.DrawFn) -> dict[str, Any]:
    paths = draw(st.permutations(PATHS))[: draw(st.integers(1, len(PATHS)))]
    sets: dict[str, Any] = {
        f"set{i}": {"path": path, "prune": draw(st.booleans()), "parameters": {}}
        for i, path in enumerate(paths)
    }
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS))):
        set_name = draw(st.sampled_from(sorted(sets)))
        type_ = draw(st.sampled_from(["String", "StringList", "SecureString"]))
        if type_ == "SecureString" and draw(st.integers(0, 3)) == 0:
            entry: dict[str, Any] = {"type": type_, "external": True}
        else:
            entry = {"type": type_, "value": _value(draw, type_)}
        sets[set_name]["parameters"][key] = entry
    images: dict[str, Any] = {}
    for k in range(draw(st.integers(1, 3))):
        if k == 0 or draw(st.booleans()):
            images[f"i{k}"] = {"repository": f"app/img{k}", "tag": f"1.{k}"}
        else:
            images[f"i{k}"] = {"repository": f"app/img{k}", "digest": f"pin{k}"}
    hosts = [f"web-{n}" for n in range(1, draw(st.integers(1, 3)) + 1)]
    stacks: dict[str, Any] = {}
    for s in range(draw(st.integers(0, 2))):
        names = draw(st.lists(st.sampled_from(SERVICES), unique=True, min_size=1, max_size=4))
        stack_sets = draw(st.lists(st.sampled_from(sorted(sets)), unique=True))
        stack_keys = sorted(k for name in stack_sets for k in sets[name]["parameters"])
        services: dict[str, Any] = {}
        for i, name in enumerate(names):
            service: dict[str, Any] = {}
            if draw(st.integers(0, 3)) > 0:
                service["image"] = draw(st.sampled_from(sorted(images)))
            else:
                service["compose_image"] = "nginx:1.27"
            if stack_keys:
                service["variables"] = draw(st.lists(st.sampled_from(stack_keys), unique=True, max_size=3))
            service["environment_from"] = draw(
                st.lists(st.sampled_from(sorted(sets)), unique=True, max_size=2)
            )
            deps = draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=2)) if i else []
            service["depends_on"] = {dep: draw(st.sampled_from(CONDITIONS)) for dep in deps}
            services[name] = service
        stacks[f"st{s}"] = {
            "parameter_sets": stack_sets,
            "prune": draw(st.booleans()),
            "networks": draw(st.lists(st.sampled_from(["default", "back"]), unique=True)),
            "volumes": draw(st.lists(st.sampled_from(["data", "cache"]), unique=True)),
            "services": services,
            "hosts": draw(st.permutations(hosts))[: draw(st.integers(1, len(hosts)))],
        }
        if draw(st.booleans()):  # a one-off job before some of the stack's services
            before = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=2))
            stacks[f"st{s}"]["jobs"] = {"migrate": {"service": draw(st.sampled_from(names)), "before": before}}
    return {"owner": OWNER, "sets": sets, "images": images, "stacks": stacks, "hosts": hosts}


def _observed_parameter(draw: st.DrawFn, entry: dict[str, Any]) -> dict[str, Any] | None:
    type_ = entry["type"]
    if entry.get("external"):
        if draw(st.integers(0, 4)) == 0:
            return None
        return {"type": "SecureString", "value": draw(secrets), **draw(tag_choices)}
    mode = draw(st.sampled_from(["missing", "same", "same", "value", "type", "blanks"]))
    if mode == "missing":
        return None
    value = entry["value"]
    observed_type = type_
    if mode == "value":
        value = _value(draw, type_)
    elif mode == "type":
        observed_type = draw(st.sampled_from(sorted({"String", "StringList", "SecureString"} - {type_})))
    elif mode == "blanks" and type_ == "StringList":
        value = ", ".join(value.split(","))
    return {"type": observed_type, "value": value, **draw(tag_choices)}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = draw(desired_specs())
    params: dict[str, Any] = {}
    for body in spec["sets"].values():
        for key, entry in body["parameters"].items():
            observed = _observed_parameter(draw, entry)
            if observed is not None:
                params[f"{body['path']}/{key}"] = observed
    for i in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from([*PATHS, "/elsewhere"]))
        name = f"{path}/{draw(st.sampled_from(['', 'sub/']))}EXTRA{i}"
        type_ = draw(st.sampled_from(["String", "StringList", "SecureString"]))
        params[name] = {"type": type_, "value": _value(draw, type_), **draw(tag_choices)}
    registry: dict[str, str] = {}
    tokens: dict[str, str | None] = {}
    for name, image in spec["images"].items():
        repo = image["repository"]
        token = image.get("digest")
        if "tag" in image:
            fate = draw(st.sampled_from(["present", "present", "present", "moved", "missing"]))
            if fate != "missing":
                token = f"{name}-{fate}"
                registry[f"{repo}:{image['tag']}"] = token
        tokens[name] = token
    hosts: dict[str, Any] = {}
    for host in spec["hosts"]:
        if draw(st.integers(0, 6)) == 0:
            hosts[host] = {"unreachable": "cannot connect to the Docker engine"}
        else:
            hosts[host] = _host_world(draw, spec, tokens)
    observed = {"parameters": params, "registry": registry, "hosts": hosts}
    return spec, observed


def _host_world(draw: st.DrawFn, spec: dict[str, Any], tokens: dict[str, str | None]) -> dict[str, Any]:
    """What one Docker host runs: local images, containers (also foreign), networks, volumes."""
    local: list[str] = []
    for name, image in spec["images"].items():
        repo = image["repository"]
        token = tokens[name]
        if token is not None and draw(st.booleans()):
            local.append(f"{repo}@{token}")
        if draw(st.booleans()):
            local.append(f"{repo}@{name}-old")
    containers: list[dict[str, Any]] = []
    networks: dict[str, list[str]] = {"other-proj": ["default", "data"]}
    volumes: dict[str, list[str]] = {"other-proj": ["data"]}
    for stack_name, stack in spec["stacks"].items():
        networks[stack_name] = draw(st.lists(st.sampled_from(stack["networks"] or ["x"]), unique=True))
        volumes[stack_name] = draw(st.lists(st.sampled_from(stack["volumes"] or ["x"]), unique=True))
        orphans = draw(st.lists(st.sampled_from(["old1", "old2"]), unique=True))
        for service in [*stack["services"], *orphans]:
            for _ in range(draw(st.integers(0, 2))):
                container: dict[str, Any] = {
                    "stack": stack_name,
                    "service": service,
                    "hash": draw(st.sampled_from(["target", "target", "as-observed", "stale", None])),
                    "owner": draw(st.sampled_from([OWNER, OWNER, None, FOREIGN])),
                    "state": draw(st.sampled_from(["running", "running", "exited", "created"])),
                    "oneoff": draw(st.integers(0, 5)) == 0,
                }
                if draw(st.integers(0, 3)) == 0:
                    container["image"] = "app/img0@i0-old"
                kind = draw(st.sampled_from(["compose"] * 8 + ["lookalike", "leftover"]))
                if kind == "lookalike":  # carries the service's labels; Compose did not make it
                    container["lookalike"] = True
                elif kind == "leftover":  # renamed by a Compose recreate that was interrupted
                    container["name"] = f"0123456789ab_dev-{stack_name}-{service}-1"
                containers.append(container)
    for service in draw(st.lists(st.sampled_from(SERVICES), unique=True, max_size=2)):
        containers.append(
            {"project": "other-proj", "service": service, "owner": draw(st.sampled_from([OWNER, None]))}
        )
    return {"local": local, "containers": containers, "networks": networks, "volumes": volumes}


def _build(world: tuple[dict[str, Any], dict[str, Any]]) -> tuple[DesiredState, ObservedState]:
    desired = desired_state(world[0])
    return desired, observed_state(world[1], desired)


def _secrets_in(obj: object) -> set[str]:
    if isinstance(obj, str):
        return {obj} if obj.startswith(SECRET_PREFIX) else set()
    if isinstance(obj, dict):
        return set().union(*(_secrets_in(v) for v in obj.values()), set())
    if isinstance(obj, list):
        return set().union(*(_secrets_in(v) for v in obj), set())
    return set()


# --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(worlds())
def test_apply_then_plan_again_is_empty(world: tuple[dict[str, Any], dict[str, Any]]) -> None:
    desired, observed = _build(world)
    first = plan(desired, observed)
    after = apply_plan(first, desired, observed)
    second = plan(desired, after)
    assert second.actions == (), [(a.kind, a.address, a.reason) for a in second.actions]
    assert second.problems == first.problems
    # and applying an empty plan changes nothing
    assert apply_plan(second, desired, after) == after


@PROPERTY_SETTINGS
@given(worlds(), st.data())
def test_plan_is_deterministic_and_independent_of_observed_order(
    world: tuple[dict[str, Any], dict[str, Any]], data: st.DataObject
) -> None:
    desired, observed = _build(world)
    hosts = {
        name: replace(
            host,
            containers=tuple(data.draw(st.permutations(host.containers))),
            networks=tuple(data.draw(st.permutations(host.networks))),
            volumes=tuple(data.draw(st.permutations(host.volumes))),
        )
        for name, host in data.draw(st.permutations(list(observed.hosts.items())))
    }
    shuffled = replace(
        observed,
        parameters=dict(data.draw(st.permutations(list(observed.parameters.items())))),
        image_digests=dict(data.draw(st.permutations(list(observed.image_digests.items())))),
        hosts=hosts,
    )
    first = plan(desired, observed)
    assert plan(desired, observed) == first
    assert plan(desired, shuffled) == first
    assert render_json(plan(desired, shuffled)) == render_json(first)


@PROPERTY_SETTINGS
@given(worlds())
def test_only_owned_resources_are_deleted(world: tuple[dict[str, Any], dict[str, Any]]) -> None:
    desired, observed = _build(world)
    containers = {(h.name, c.id): c for h in observed.hosts.values() for c in h.containers}
    for action in plan(desired, observed).actions:
        if isinstance(action, DeleteParameter):
            tags = observed.parameters[action.name].tags
            assert tags is not None and tags.get(OWNER_KEY) == desired.owner
            assert desired.parameter(action.name) is None
        if isinstance(action, RemoveContainer):
            assert containers[(action.host, action.container_id)].owner == desired.owner
        if isinstance(action, RemoveService):
            assert action.container_ids
            for cid in action.container_ids:
                assert containers[(action.host, cid)].owner == desired.owner
                assert containers[(action.host, cid)].project == action.project


@PROPERTY_SETTINGS
@given(worlds())
def test_secrets_never_appear_in_any_output(world: tuple[dict[str, Any], dict[str, Any]]) -> None:
    desired, observed = _build(world)
    hidden = _secrets_in(world[0]) | _secrets_in(world[1])
    result = plan(desired, observed)
    outputs = [
        render_text(result, color=False, verbose=True),
        render_text(result, color=True, verbose=True),
        render_json(result),
        render_markdown(result),
        repr(result),
    ]
    for output in outputs:
        leaked = [s for s in hidden if s in output]
        assert not leaked


@PROPERTY_SETTINGS
@given(worlds())
def test_reading_tags_only_for_ownership_queries_gives_the_actions_of_full_tags(
    world: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    desired, observed = _build(world)
    # the world itself always knows its tags (untagged = no tags)
    truth = replace(
        observed,
        parameters={
            n: p if p.tags is not None else replace(p, tags={}) for n, p in observed.parameters.items()
        },
    )
    # the app's observation: a bulk read without tags, then tags for the queried names
    bulk = replace(truth, parameters={n: replace(p, tags=None) for n, p in truth.parameters.items()})
    wanted = ownership_queries(desired, bulk)
    second = replace(
        bulk, parameters={n: truth.parameters[n] if n in wanted else p for n, p in bulk.parameters.items()}
    )
    assert ownership_queries(desired, second) == frozenset()
    assert plan(desired, second).actions == plan(desired, truth).actions
