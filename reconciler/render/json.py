"""The plan as JSON, format 2: explicit serialisers, one per action kind. Pure.

The document is described by ``specs/plan.schema.json``; renaming a field
of an internal dataclass does not change it. Secret values never appear:
before/after go through :mod:`reconciler.core.diff` (every Sensitive becomes
``(sensitive)`` and is flagged), and the interpolation values a stack unit
carries for Compose are not serialised at all (only their names).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from reconciler.core.actions import (
    Action,
    DeleteParameter,
    ExpectNetwork,
    ExpectVolume,
    PullImage,
    PutParameter,
    RemoveContainer,
    RemoveNetwork,
    RunJob,
    ServiceAction,
)
from reconciler.core.diff import change_document
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.plan import ParameterVersion, Plan, Precondition, Unit
from reconciler.core.rollout_actions import (
    Bake,
    CheckAlarms,
    HealthGate,
    JoinTargetGroups,
    LeaveTargetGroups,
    MarkUnhealthy,
    TargetGroupRef,
)
from reconciler.render.rotation import ROTATION_DETAILS


def counts(plan: Plan) -> dict[str, int]:
    """Actions by Terraform verb: add, change, replace, destroy."""
    out = {"add": 0, "change": 0, "replace": 0, "destroy": 0}
    names = {("create",): "add", ("update",): "change", ("delete", "create"): "replace", ("delete",): "destroy"}
    for action in plan.actions:
        name = names.get(tuple(action.actions))
        if name:
            out[name] += 1
    return out


def _put(a: Action) -> dict[str, object]:
    assert isinstance(a, PutParameter)
    return {"name": a.name, "type": a.type, "parameter_set": a.set_name, "create": a.create, "adopt": a.adopt}


def _delete(a: Action) -> dict[str, object]:
    assert isinstance(a, DeleteParameter)
    return {"name": a.name, "parameter_set": a.set_name, "owner": a.owner}


def _pull(a: Action) -> dict[str, object]:
    assert isinstance(a, PullImage)
    return {"reference": a.reference, "registry": a.registry}


def _expect(a: Action) -> dict[str, object]:
    assert isinstance(a, ExpectNetwork | ExpectVolume)
    return {"project": a.project, "key": a.key}


def _container(a: Action) -> dict[str, object]:
    assert isinstance(a, RemoveContainer)
    return {"project": a.project, "service": a.service, "container_id": a.container_id, "name": a.name}


def _network(a: Action) -> dict[str, object]:
    assert isinstance(a, RemoveNetwork)
    return {"project": a.project, "key": a.key, "network_id": a.network_id, "name": a.name}


def _service(a: Action) -> dict[str, object]:
    assert isinstance(a, ServiceAction)
    waits = [w for w, on in (("healthy", a.wait_healthy), ("completed", a.wait_completed)) if on]
    return {
        "project": a.project,
        "service": a.service,
        "image": a.image,
        "config_hash": a.config_hash,
        "container_ids": list(a.container_ids),
        "wait_for": waits,
        "depends_on": list(a.depends_on),
        "needs": list(a.needs),
    }


def _job(a: Action) -> dict[str, object]:
    assert isinstance(a, RunJob)
    return {"project": a.project, "job": a.job, "service": a.service, "command": list(a.command),
            "before": list(a.before), "image": a.image, "timeout": a.timeout, "job_hash": a.job_hash,
            "needs": list(a.needs)}  # fmt: skip


def _refs(refs: Iterable[TargetGroupRef]) -> list[dict[str, object]]:
    return [{"arn": r.arn, "name": r.name, "port": r.port} for r in refs]


def _leave(a: Action) -> dict[str, object]:
    assert isinstance(a, LeaveTargetGroups)
    return {"fleet": a.fleet, "batch": a.batch, "instance": a.instance, "target_groups": _refs(a.target_groups),
            "drain_timeout": a.drain_timeout}  # fmt: skip


def _gate(a: Action) -> dict[str, object]:
    assert isinstance(a, HealthGate)
    return {"fleet": a.fleet, "batch": a.batch, "instance": a.instance, "url": a.url, "service": a.service,
            "attempts": a.attempts, "interval": a.interval, "timeout": a.timeout}  # fmt: skip


def _join(a: Action) -> dict[str, object]:
    assert isinstance(a, JoinTargetGroups)
    return {"fleet": a.fleet, "batch": a.batch, "instance": a.instance, "target_groups": _refs(a.target_groups),
            "restore": a.restore}  # fmt: skip


def _alarms(a: Action) -> dict[str, object]:
    assert isinstance(a, CheckAlarms | Bake)
    out: dict[str, object] = {"fleet": a.fleet, "batch": a.batch, "alarms": list(a.alarms), "ignored": list(a.ignored)}
    if isinstance(a, Bake):
        out["seconds"] = a.seconds
    return out


def _mark(a: Action) -> dict[str, object]:
    assert isinstance(a, MarkUnhealthy)
    return {"fleet": a.fleet, "batch": a.batch, "instance": a.instance, "group": a.group, "trouble": a.trouble,
            "detail": a.detail, "ticks": a.ticks}  # fmt: skip


def _refresh(a: Action) -> dict[str, object]:
    assert isinstance(a, InstanceRefresh)
    p = a.preferences
    preferences = {
        "min_healthy_percentage": p.min_healthy, "max_healthy_percentage": p.max_healthy,
        "skip_matching": p.skip_matching, "instance_warmup": p.instance_warmup,
        "checkpoint_percentages": list(p.checkpoints), "checkpoint_delay": p.checkpoint_delay,
        "alarms": list(p.alarms), "auto_rollback": p.auto_rollback, "bake_time": p.bake_time,
        "standby_instances": p.standby_instances, "scale_in_protected_instances": p.scale_in_protected_instances,
    }  # fmt: skip
    return {"fleet": a.fleet, "batch": a.batch, "group": a.group,
            "launch_template": {"name": a.template.name, "version": a.template.version},
            "before": list(a.before), "instances": list(a.instances), "preferences": preferences,
            "launch_hook": a.launch_hook, "timeout": a.timeout}  # fmt: skip


_DETAILS: dict[str, Callable[[Action], dict[str, object]]] = {
    "put_parameter": _put,
    "delete_parameter": _delete,
    "pull_image": _pull,
    "expect_network": _expect,
    "expect_volume": _expect,
    "create_service": _service,
    "recreate_service": _service,
    "start_service": _service,
    "remove_service": _service,
    "remove_container": _container,
    "remove_network": _network,
    "run_job": _job,
    "leave_target_groups": _leave,
    "health_gate": _gate,
    "join_target_groups": _join,
    "check_alarms": _alarms,
    "bake": _alarms,
    "mark_unhealthy": _mark,
    **ROTATION_DETAILS,  # instance rotation
    "instance_refresh": _refresh,
}


def resource_change(action: Action, unit: Unit) -> dict[str, object]:
    """One action as a JSON record (secrets masked, flagged ``sensitive``)."""
    change = change_document(action.change)
    return {
        "address": action.address,
        "kind": action.kind,
        "actions": list(action.actions),
        "reason": action.reason,
        "unit": unit.id,
        "host": unit.host,
        "stack": unit.stack,
        "sensitive": change["before_sensitive"] is not False or change["after_sensitive"] is not False,
        "details": _DETAILS[action.kind](action),
        "change": change,
    }


def _unit(unit: Unit) -> dict[str, object]:
    compose: Mapping[str, object] | None = None
    if unit.compose is not None:
        compose = {
            "project": unit.compose.project,
            "compose_file": str(unit.compose.compose_file),
            "variables": sorted(unit.compose.environment),
        }
    return {
        "id": unit.id,
        "host": unit.host,
        "stack": unit.stack,
        "after": list(unit.after),
        "needs": list(unit.needs),
        "requires_all": unit.requires_all,
        "addresses": [a.address for a in unit.actions],
        "compose": compose,
    }


def _precondition(p: Precondition) -> dict[str, object]:
    if isinstance(p, ParameterVersion):
        return {"kind": "parameter_version", "name": p.name, "version": p.version}
    return {
        "kind": "project_containers",
        "host": p.host,
        "project": p.project,
        "containers": [
            {"id": cid, "service": service, "config_hash": config_hash or None, "owner": owner or None}
            for cid, service, config_hash, owner in p.containers
        ],
    }


def plan_document(plan: Plan) -> dict[str, object]:
    """The plan as a JSON-able document (the body of :func:`render_json`)."""
    return {
        "format_version": plan.format_version,
        "environment": plan.environment,
        "summary": {**counts(plan), "unchanged": len(plan.unchanged), "problems": len(plan.problems)},
        "units": [_unit(u) for u in plan.units],
        "resource_changes": [resource_change(a, u) for u in plan.units for a in u.actions],
        "unchanged": [{"address": u.address, "reason": u.reason} for u in plan.unchanged],
        "problems": [{"address": p.address, "message": p.message} for p in plan.problems],
        "preconditions": [_precondition(p) for p in plan.preconditions],
    }


def render_json(plan: Plan, *, pretty: bool = True) -> str:
    """The versioned plan JSON (``format_version`` 2.0); every secret masked.

    ``pretty``: indented by two spaces (for a person; Python's pure-Python encoder, about
    five times slower); otherwise compact, one line, by the C encoder (for a pipe)."""
    document = plan_document(plan)
    if pretty:
        return json.dumps(document, indent=2, ensure_ascii=False)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
