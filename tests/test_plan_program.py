"""The plan is a complete program: every action type has a handler, units say what they
wait for, and the executor needs nothing but the plan. Pure (no I/O)."""

from __future__ import annotations

import inspect

from planner.build import desired_state, observed_state

import reconciler.core.actions as actions_module
import reconciler.core.instance_refresh as instance_refresh_module
import reconciler.core.rollout_actions as rollout_actions_module
import reconciler.core.rotation_actions as rotation_actions_module
from reconciler.core.actions import Action, ServiceAction
from reconciler.core.plan import ACTION_TYPES, PARAMETERS_UNIT, PRUNE_UNIT, ParameterVersion, ProjectContainers
from reconciler.executor import HANDLERS, execute
from reconciler.executor.rollout import STEPS as ROLLOUT_STEPS
from reconciler.planner import plan


def _concrete_action_types() -> set[type[Action]]:
    found = set()
    for module in (actions_module, rollout_actions_module, rotation_actions_module, instance_refresh_module):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Action) and obj.kind != "action" and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_every_action_type_has_a_handler() -> None:
    concrete = _concrete_action_types()
    assert concrete == set(ACTION_TYPES), "ACTION_TYPES lists every concrete action"
    missing = sorted(t.__name__ for t in concrete if t not in HANDLERS and t not in ROLLOUT_STEPS)
    assert not missing, f"the executor has no handler for {missing}"
    kinds = [t.kind for t in concrete]
    assert len(kinds) == len(set(kinds)), "action kinds are unique"


def test_the_executor_needs_neither_desired_nor_observed_state() -> None:
    params = set(inspect.signature(execute).parameters)
    assert params == {"plan", "drivers", "state_dir", "options", "on_event"}


WORLD = {
    "hosts": ["web-1", "web-2"],
    "sets": {"cfg": {"path": "/app/prod", "prune": True, "parameters": {"A": "1", "B": "2"}}},
    "images": {"backend": {"repository": "popcon/backend", "tag": "2.2.0"}},
    "stacks": {
        "app": {
            "hosts": ["web-1", "web-2"],
            "parameter_sets": ["cfg"],
            "services": {"backend": {"image": "backend", "variables": ["A"]}},
        },
        "solo": {"hosts": ["web-2"], "services": {"worker": {"image": "backend"}}},
    },
}
OBSERVED = {
    "parameters": {
        "/app/prod/A": {"value": "0", "owner": "popcon-dev", "version": 3},
        "/app/prod/OLD": {"value": "x", "owner": "popcon-dev", "version": 7},
    },
    "registry": {"popcon/backend:2.2.0": "b2"},
    "containers": [{"stack": "app", "service": "backend", "id": "c1", "hash": "stale"}],
}


def test_units_run_parameters_then_each_stack_host_by_host_then_prunes() -> None:
    desired = desired_state(WORLD)
    result = plan(desired, observed_state(OBSERVED, desired))
    ids = [u.id for u in result.units]
    assert ids == [PARAMETERS_UNIT, "stack:web-1/app", "stack:web-2/app", "stack:web-2/solo", PRUNE_UNIT]
    units = {u.id: u for u in result.units}
    assert units["stack:web-2/app"].after == ("stack:web-1/app",)
    assert units["stack:web-1/app"].after == ()
    # a service waits only for the writes it reads: backend uses A, not B
    assert units["stack:web-1/app"].needs == ("/app/prod/A",)
    backend = [a for a in units["stack:web-1/app"].actions if isinstance(a, ServiceAction)]
    assert [(a.service, a.needs) for a in backend] == [("backend", ("/app/prod/A",))]
    assert units["stack:web-2/solo"].needs == ()
    assert units[PRUNE_UNIT].requires_all
    # everything Compose needs is in the unit: the override pins images and labels the hash
    compose = units["stack:web-2/app"].compose
    assert compose is not None and compose.project == "dev-app"
    override = compose.override["services"]
    assert isinstance(override, dict) and "@sha256:" in override["backend"]["image"]
    assert compose.environment["A"] == "1"
    # what the plan assumed: the versions it writes over and the containers it replaces
    assert ParameterVersion("/app/prod/A", 3) in result.preconditions
    assert ParameterVersion("/app/prod/B", None) in result.preconditions
    assert ParameterVersion("/app/prod/OLD", 7) in result.preconditions
    projects = [p for p in result.preconditions if isinstance(p, ProjectContainers)]
    expected = {("web-1", "dev-app"), ("web-2", "dev-app"), ("web-2", "dev-solo")}
    assert {(p.host, p.project) for p in projects} == expected
    web1 = next(p for p in projects if p.host == "web-1")
    assert [c[0] for c in web1.containers] == ["c1"]
