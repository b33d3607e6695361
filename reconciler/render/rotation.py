"""The JSON details of instance rotation's steps, and their headings in the text plan. Pure."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.core.actions import Action
from reconciler.core.rollout_actions import TargetGroupRef
from reconciler.core.rotation_actions import CompleteLaunch, PutLaunchHook, RotateInstance, SetLaunchTemplate


def _refs(refs: tuple[TargetGroupRef, ...]) -> list[dict[str, object]]:
    return [{"arn": r.arn, "name": r.name, "port": r.port} for r in refs]


def _set_template(a: Action) -> dict[str, object]:
    assert isinstance(a, SetLaunchTemplate)
    return {"fleet": a.fleet, "batch": a.batch, "group": a.group, "launch_template": a.template,
            "version": a.version, "previous": a.previous}  # fmt: skip


def _put_hook(a: Action) -> dict[str, object]:
    assert isinstance(a, PutLaunchHook)
    return {"fleet": a.fleet, "batch": a.batch, "group": a.group, "hook": a.hook, "timeout": a.timeout}


def _rotate(a: Action) -> dict[str, object]:
    assert isinstance(a, RotateInstance)
    return {"fleet": a.fleet, "batch": a.batch, "group": a.group, "instance": a.instance,
            "launch_template": a.template, "from_version": a.before or None, "to_version": a.after,
            "hook": a.hook, "launch_timeout": a.launch_timeout}  # fmt: skip


def _complete(a: Action) -> dict[str, object]:
    assert isinstance(a, CompleteLaunch)
    return {"fleet": a.fleet, "batch": a.batch, "group": a.group, "instance": a.instance, "hook": a.hook,
            "result": a.result, "target_groups": _refs(a.target_groups)}  # fmt: skip


ROTATION_DETAILS: dict[str, Callable[[Action], dict[str, object]]] = {
    "set_launch_template": _set_template,
    "put_launch_hook": _put_hook,
    "rotate_instance": _rotate,
    "complete_launch": _complete,
}


def rotation_heading(fleet: str, step: str) -> str | None:
    """The heading of a rotation unit (``template``, ``launch/<id>``, ``<n>/rotate``); None for another."""
    if step == "template":
        return f"Fleet {fleet}: the Auto Scaling group's launch template and hook"
    if step.startswith("launch/"):
        return f"Fleet {fleet}: new instance {step.removeprefix('launch/')} converged before it serves"
    number, _, part = step.partition("/")
    if part == "rotate":
        return f"Rollout of fleet {fleet}, batch {number}: replace the instances (new launch template)"
    return None
