"""Planner behaviour beyond the data cases: public helpers, hashing, order, purity, speed."""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.build import desired_state, digest, observed_state
from reconciler.core.actions import DeleteParameter, PutParameter, RecreateService
from reconciler.core.model import (
    OWNER_KEY,
    Dependency,
    DesiredState,
    ParameterPath,
    ParameterSpec,
    Sensitive,
    ServiceSpec,
    StackSpec,
)
from reconciler.core.observed import ObservedParameter, ObservedState
from reconciler.planner import ownership_queries, plan, service_targets
from reconciler.planner.order import service_order

POPCON: dict[str, Any] = {
    "sets": {
        "popcon-config": {
            "path": "/popcon/dev",
            "prune": True,
            "parameters": {"DB_HOST": "popcon-mysql", "DB_PORT": "3306"},
        },
        "popcon-secrets": {
            "path": "/popcon/dev/secrets",
            "parameters": {
                "DB_PASSWORD": {"type": "SecureString", "value": "pw-123"},
                "DB_ROOT_PASSWORD": {"type": "SecureString", "external": True},
            },
        },
    },
    "images": {
        "backend": {"repository": "popcon/backend", "tag": "2.1.0"},
        "mysql": {"repository": "popcon/mysql", "tag": "8.0"},
    },
    "stacks": {
        "popcon": {
            "parameter_sets": ["popcon-config", "popcon-secrets"],
            "services": {
                "backend": {
                    "image": "backend",
                    "variables": ["DB_HOST"],
                    "environment_from": ["popcon-secrets"],
                },
                "mysql": {"image": "mysql", "variables": ["DB_ROOT_PASSWORD", "DB_PORT"]},
            },
        }
    },
}

OBSERVED: dict[str, Any] = {
    "parameters": {
        "/popcon/dev/secrets/DB_ROOT_PASSWORD": {"type": "SecureString", "value": "root-pw"},
    },
    "registry": {"popcon/backend:2.1.0": "b1", "popcon/mysql:8.0": "m1"},
}


def _world(
    desired: dict[str, Any] | None = None, observed: dict[str, Any] | None = None
) -> tuple[DesiredState, ObservedState]:
    d = desired_state(desired if desired is not None else POPCON)
    return d, observed_state(observed if observed is not None else OBSERVED, d)


# ---- stack_environment / service_targets ---------------------------------


def test_stack_unit_environment_has_managed_values_from_spec_and_external_from_ssm() -> None:
    desired, observed = _world()
    units = [u for u in plan(desired, observed).units if u.compose is not None]
    assert units, "the fresh stack has a unit with a compose project"
    env = units[0].compose.environment if units[0].compose is not None else {}
    assert env == {
        "DB_HOST": "popcon-mysql",
        "DB_PORT": "3306",
        "DB_PASSWORD": Sensitive("pw-123"),
        "DB_ROOT_PASSWORD": Sensitive("root-pw"),
    }
    assert isinstance(env["DB_PASSWORD"], Sensitive)
    assert isinstance(env["DB_ROOT_PASSWORD"], Sensitive)


def test_service_targets_pin_images_by_digest() -> None:
    desired, observed = _world()
    targets = service_targets(desired.stacks[0], desired, observed)
    assert targets["backend"].image == f"127.0.0.1:5000/popcon/backend@{digest('b1')}"
    assert targets["mysql"].image == f"127.0.0.1:5000/popcon/mysql@{digest('m1')}"
    assert len(targets["backend"].config_hash) == 64
    int(targets["backend"].config_hash, 16)


def test_service_targets_leave_out_services_whose_image_is_missing() -> None:
    desired, observed = _world()
    observed = replace(observed, image_digests={})
    targets = service_targets(desired.stacks[0], desired, observed)
    assert "backend" not in targets and "mysql" not in targets


def _targets_after(change: dict[str, Any]) -> dict[str, str]:
    spec = copy.deepcopy(POPCON)
    obs = copy.deepcopy(OBSERVED)
    for path, value in change.items():
        where: Any = spec if not path.startswith("observed.") else obs
        keys = path.removeprefix("observed.").split(".")
        for key in keys[:-1]:
            where = where[key]
        where[keys[-1]] = value
    desired, observed = _world(spec, obs)
    return {name: t.config_hash for name, t in service_targets(desired.stacks[0], desired, observed).items()}


def test_a_parameter_change_changes_exactly_the_hashes_of_its_users() -> None:
    base = _targets_after({})
    # DB_HOST is interpolated by backend only
    assert _targets_after({"sets.popcon-config.parameters.DB_HOST": "db2"}) == {
        "backend": _targets_after({"sets.popcon-config.parameters.DB_HOST": "db2"})["backend"],
        "mysql": base["mysql"],
    }
    assert _targets_after({"sets.popcon-config.parameters.DB_HOST": "db2"})["backend"] != base["backend"]
    # DB_PASSWORD is injected into backend (environmentFrom popcon-secrets)
    changed = _targets_after(
        {"sets.popcon-secrets.parameters.DB_PASSWORD": {"type": "SecureString", "value": "x"}}
    )
    assert changed["backend"] != base["backend"] and changed["mysql"] == base["mysql"]
    # the external root password (from SSM) is interpolated by mysql and, being a
    # key of popcon-secrets, injected into backend
    external = {"type": "SecureString", "value": "other-root"}
    changed = _targets_after({"observed.parameters./popcon/dev/secrets/DB_ROOT_PASSWORD": external})
    assert changed["mysql"] != base["mysql"] and changed["backend"] != base["backend"]
    # DB_PORT is interpolated by mysql only
    changed = _targets_after({"sets.popcon-config.parameters.DB_PORT": "3307"})
    assert changed["mysql"] != base["mysql"] and changed["backend"] == base["backend"]


def test_an_image_move_changes_only_that_services_hash() -> None:
    base = _targets_after({})
    moved = _targets_after({"observed.registry": {"popcon/backend:2.1.0": "b2", "popcon/mysql:8.0": "m1"}})
    assert moved["backend"] != base["backend"] and moved["mysql"] == base["mysql"]


def test_the_config_hash_ignores_unused_parameters_and_project_matters() -> None:
    base = _targets_after({})
    spec = copy.deepcopy(POPCON)
    spec["sets"]["popcon-config"]["parameters"]["UNUSED"] = "x"
    desired, observed = _world(spec)
    assert {
        n: t.config_hash for n, t in service_targets(desired.stacks[0], desired, observed).items()
    } == base
    other_project = _targets_after({"stacks.popcon.project": "elsewhere"})
    assert other_project["backend"] != base["backend"]


# ---- ownership_queries -------------------------------------------------


def test_ownership_queries_ask_for_prune_candidates_and_overwrites_only() -> None:
    desired, _ = _world()
    observed = ObservedState(
        parameters={
            "/popcon/dev/DB_HOST": ObservedParameter("/popcon/dev/DB_HOST", "String", "other"),
            "/popcon/dev/DB_PORT": ObservedParameter("/popcon/dev/DB_PORT", "String", "3306"),
            "/popcon/dev/OLD": ObservedParameter("/popcon/dev/OLD", "String", "x"),
            "/popcon/dev/KNOWN": ObservedParameter("/popcon/dev/KNOWN", "String", "x", tags={}),
            "/popcon/dev/secrets/STRAY": ObservedParameter("/popcon/dev/secrets/STRAY", "String", "x"),
            "/popcon/dev/secrets/DB_PASSWORD": ObservedParameter(
                "/popcon/dev/secrets/DB_PASSWORD", "SecureString", Sensitive("pw-123")
            ),
        }
    )
    # DB_HOST differs (overwrite: adopt?), OLD is a prune candidate; DB_PORT and
    # DB_PASSWORD match; KNOWN's tags are already read; STRAY is under a path without prune
    assert ownership_queries(desired, observed) == {"/popcon/dev/DB_HOST", "/popcon/dev/OLD"}


def test_two_phase_observation_gives_the_plan_of_full_tags() -> None:
    desired, _ = _world()
    truth = {
        "/popcon/dev/DB_HOST": ObservedParameter(
            "/popcon/dev/DB_HOST", "String", "x", tags={OWNER_KEY: "tf"}
        ),
        "/popcon/dev/OLD": ObservedParameter(
            "/popcon/dev/OLD", "String", "x", tags={OWNER_KEY: "popcon-dev"}
        ),
    }
    bulk = ObservedState(parameters={n: replace(p, tags=None) for n, p in truth.items()})
    wanted = ownership_queries(desired, bulk)
    second = ObservedState(parameters={n: truth[n] if n in wanted else p for n, p in bulk.parameters.items()})
    full = ObservedState(parameters=truth)
    assert plan(desired, second).actions == plan(desired, full).actions
    kinds = {(a.kind, a.address) for a in plan(desired, second).actions}
    assert ("delete_parameter", "parameter:/popcon/dev/OLD") in kinds


# ---- parameters: changes carry Sensitive, never the clear value ----------


def test_secret_changes_keep_sensitive_objects_and_reasons_stay_clean() -> None:
    desired, _ = _world()
    observed = ObservedState(
        parameters={
            "/popcon/dev/secrets/DB_PASSWORD": ObservedParameter(
                "/popcon/dev/secrets/DB_PASSWORD", "SecureString", Sensitive("old-pw-999")
            ),
            # a plain String about to become... the desired value is a secret
            "/popcon/dev/DB_HOST": ObservedParameter("/popcon/dev/DB_HOST", "SecureString", Sensitive("h")),
        }
    )
    result = plan(desired, observed)
    puts = {a.name: a for a in result.actions if isinstance(a, PutParameter)}
    secret_put = puts["/popcon/dev/secrets/DB_PASSWORD"]
    assert secret_put.value == Sensitive("pw-123")
    assert secret_put.change.before is not None and secret_put.change.after is not None
    assert isinstance(secret_put.change.before["value"], Sensitive)
    assert isinstance(secret_put.change.after["value"], Sensitive)
    # SecureString -> String: both sides masked in the change (the old one was a secret)
    host = puts["/popcon/dev/DB_HOST"]
    assert host.change.after is not None and isinstance(host.change.after["value"], Sensitive)
    assert host.value == "popcon-mysql"
    reasons = [a.reason for a in result.actions] + [u.reason for u in result.unchanged]
    assert not [r for r in reasons if "pw-123" in r or "old-pw-999" in r]


# ---- order ---------------------------------------------------------------


def test_puts_first_then_stacks_by_name_then_deletes() -> None:
    spec = copy.deepcopy(POPCON)
    spec["images"]["admin"] = {"repository": "popcon/admin", "tag": "1"}
    spec["stacks"]["admin"] = {"services": {"admin": {"image": "admin"}}}
    obs = copy.deepcopy(OBSERVED)
    obs["registry"]["popcon/admin:1"] = "a1"
    obs["parameters"]["/popcon/dev/ZZZ_OLD"] = {"value": "x", "owner": "popcon-dev"}
    obs["parameters"]["/popcon/dev/AAA_OLD"] = {"value": "x", "owner": "popcon-dev"}
    desired, observed = _world(spec, obs)
    kinds = [(a.kind, getattr(a, "stack", None)) for a in plan(desired, observed).actions]
    assert kinds == [
        ("put_parameter", None),
        ("put_parameter", None),
        ("put_parameter", None),
        ("pull_image", "admin"),
        ("create_service", "admin"),
        ("pull_image", "popcon"),
        ("pull_image", "popcon"),
        ("create_service", "popcon"),
        ("create_service", "popcon"),
        ("delete_parameter", None),
        ("delete_parameter", None),
    ]
    deletes = [a.address for a in plan(desired, observed).actions if isinstance(a, DeleteParameter)]
    assert deletes == ["parameter:/popcon/dev/AAA_OLD", "parameter:/popcon/dev/ZZZ_OLD"]


def _stack(*services: tuple[str, list[str]]) -> StackSpec:
    return StackSpec(
        name="s",
        project="p",
        compose_file=Path("/c.yml"),
        project_dir=Path("/"),
        services=tuple(
            ServiceSpec(n, "{}", None, depends_on=tuple(Dependency(d, "service_started") for d in deps))
            for n, deps in services
        ),
    )


def test_service_order_is_topological_with_ties_by_name() -> None:
    stack = _stack(("web", ["api"]), ("api", ["db", "cache"]), ("db", []), ("cache", []), ("adm", []))
    assert [s.name for s in service_order(stack)] == ["adm", "cache", "db", "api", "web"]


def test_service_order_survives_cycles_and_unknown_dependencies() -> None:
    stack = _stack(("a", ["b"]), ("b", ["a"]), ("c", ["ghost"]), ("d", ["d"]))
    assert [s.name for s in service_order(stack)] == ["c", "d", "a", "b"]


# ---- purity ----------------------------------------------------------------


def test_plan_does_not_change_its_inputs_and_is_repeatable() -> None:
    desired, observed = _world()
    desired_copy, observed_copy = copy.deepcopy(desired), copy.deepcopy(observed)
    first = plan(desired, observed)
    assert plan(desired, observed) == first
    assert desired == desired_copy and observed == observed_copy


def test_recreate_reason_says_configuration_changed_when_it_cannot_tell() -> None:
    desired, observed = _world(
        observed={**OBSERVED, "containers": [{"service": "backend", "hash": "stale"}, {"service": "mysql"}]}
    )
    recreate = [a for a in plan(desired, observed).actions if isinstance(a, RecreateService)]
    assert [a.service for a in recreate] == ["backend"]
    assert recreate[0].reason.startswith("configuration changed (hash ffffffffffff… -> ")


# ---- speed -------------------------------------------------------------------


def test_plan_is_fast_for_ten_thousand_parameters() -> None:
    params = [
        ParameterSpec(f"/big/dev/set{i % 20}/K{i}", f"K{i}", "String", f"v{i}", f"set{i % 20}")
        for i in range(10_000)
    ]
    small = [ParameterSpec(f"/big/dev/app/V{i}", f"V{i}", "String", f"v{i}", "app") for i in range(50)]
    paths = [ParameterPath(f"/big/dev/set{i}", f"set{i}", True, False) for i in range(20)]
    services = tuple(
        ServiceSpec(
            f"svc{i}",
            '{"image":"nginx"}',
            None,
            variables=tuple(f"V{j}" for j in range(i, i + 5)),
            environment_from=("app",),
            depends_on=(Dependency(f"svc{i - 1}", "service_healthy"),) if i else (),
        )
        for i in range(20)
    )
    stack = StackSpec("big", "dev-big", Path("/c.yml"), Path("/"), services, parameter_sets=("app",))
    desired = DesiredState(
        "dev",
        "me",
        parameters=(*params, *small),
        parameter_paths=(*paths, ParameterPath("/big/dev/app", "app", True, False)),
        stacks=(stack,),
    )
    observed = ObservedState(
        parameters={
            p.name: ObservedParameter(p.name, "String", p.value if i % 7 else "drift", tags=None)
            for i, p in enumerate(params)
            if isinstance(p.value, str)
        }
        | {
            f"/big/dev/set1/STRAY{i}": ObservedParameter(f"/big/dev/set1/STRAY{i}", "String", "x", tags={})
            for i in range(1000)
        }
    )
    start = time.perf_counter()
    result = plan(desired, observed)
    elapsed = time.perf_counter() - start
    assert len(result.actions) > 1000
    assert elapsed < 1.0, f"plan took {elapsed:.2f}s"
