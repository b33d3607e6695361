"""A fleet's rotation by AWS's instance refresh (``spec.rollout.rotation: instanceRefresh``). Pure.

When the fleet names a launch template (``launchTemplate``) and some of its instances run another
version (or another template), :func:`plan_instance_refresh` plans one unit,
``rollout:<fleet>/refresh``, holding one :class:`~reconciler.core.instance_refresh.InstanceRefresh`:
StartInstanceRefresh with the preferences derived from the rollout settings
(:func:`~reconciler.core.instance_refresh.refresh_preferences`), followed to its end. It comes after
the fleet's other rollout units (a stack change reaches the instances first; a new instance is
converged to the same revision while it waits in Pending:Wait). What AWS would refuse of the
preferences for this group's size is a problem, and nothing is planned for the fleet's rotation; so
is a template version that does not exist (:mod:`.rotation` names it). The group's template is not
set beforehand (UpdateAutoScalingGroup): AWS sets it from ``DesiredConfiguration`` once the refresh
succeeds, and AutoRollback goes back to the one it had.

The wait is bounded by the settings (:func:`refresh_timeout`): per batch, the launch (``LAUNCH``),
the launch hook's timeout (the longest a new instance may wait to be converged), the warmup and the
target groups' drain; then the bake, and ``SLACK`` on top. Past it the refresh is cancelled and the
rollout fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler.core.actions import Change
from reconciler.core.address import fleet_address
from reconciler.core.fleet import FleetSpec, RolloutSpec
from reconciler.core.fleet_observed import ObservedFleet, ObservedInstance
from reconciler.core.instance_refresh import InstanceRefresh, RefreshPreferences, preference_issues, refresh_preferences
from reconciler.core.plan import ROLLOUT_PREFIX, Problem, Unit
from reconciler.core.rotation import LaunchTemplateRef, Rotation

LAUNCH = 300.0  # seconds EC2 may take to launch and boot an instance
SLACK = 600.0  # seconds on top of the computed bound
LEFT_ALONE = ("Standby", "Terminating", "Terminated")  # StandbyInstances: Ignore; leaving anyway


@dataclass(frozen=True)
class RefreshPlan:
    units: tuple[Unit, ...] = ()
    problems: tuple[Problem, ...] = ()


def refresh_unit_id(fleet: str) -> str:
    return f"{ROLLOUT_PREFIX}{fleet}/refresh"


def running_template(instance: ObservedInstance) -> tuple[str, str]:
    """(name, version) of the template the group says ``instance`` was launched from."""
    name, _, version = instance.launch_template.rpartition(":")
    return name, version


def stale_instances(observed: ObservedFleet, template: LaunchTemplateRef) -> list[ObservedInstance]:
    """The instances on another template or version (the ones a refresh replaces)."""
    wanted = (template.name, template.version)
    return [i for i in observed.instances if not i.lifecycle.startswith(LEFT_ALONE) and running_template(i) != wanted]


def refresh_timeout(prefs: RefreshPreferences, rollout: RolloutSpec, observed: ObservedFleet, stale: int) -> float:
    """How long following the refresh may take (see the module docstring)."""
    size = max(1, observed.desired_capacity)
    keep = math.ceil(prefs.min_healthy * size / 100)
    room = math.floor(prefs.max_healthy * size / 100)
    per_batch = max(1, room - keep)
    batches = math.ceil(stale / per_batch)
    delays = [g.deregistration_delay for g in observed.target_groups if g.error is None]
    drain = rollout.drain_timeout if rollout.drain_timeout is not None else max(delays, default=0.0)
    hook = rollout.launch_hook.timeout if rollout.launch_hook is not None else 0.0
    each = LAUNCH + hook + (prefs.instance_warmup or 0) + drain
    return batches * each + prefs.bake_time + SLACK


def plan_instance_refresh(
    name: str, fleet: FleetSpec, observed: ObservedFleet, rollout: RolloutSpec, after: Sequence[str] = ()
) -> RefreshPlan:
    """The refresh unit of fleet ``name`` (none when every instance runs the wanted version), after
    the units ``after``."""
    template = fleet.launch_template
    if rollout.rotation is not Rotation.INSTANCE_REFRESH or template is None or observed.error is not None:
        return RefreshPlan()
    if observed.launch.missing_version:  # the rotation's planner makes it a problem naming it
        return RefreshPlan()
    stale = stale_instances(observed, template)
    if not stale:
        return RefreshPlan()
    address = f"{fleet_address(name)}/instance-refresh"
    if rollout.launch_hook is None:  # the spec refuses it; a desired state built otherwise still must not
        return RefreshPlan(problems=(Problem(address, "an instance refresh needs spec.rollout.launchHook"),))
    prefs = refresh_preferences(rollout, observed.desired_capacity)
    refused = preference_issues(prefs)
    if refused:
        listed = "; ".join(f"{field}: {message}" for field, message in refused)
        return RefreshPlan(problems=(Problem(address, f"AWS would refuse this instance refresh: {listed}"),))
    before = tuple(sorted({running_template(i)[1] or "?" for i in stale}, key=_version_order))
    names = {running_template(i)[0] for i in stale} - {template.name}
    was = f"{', '.join(sorted(names))} " if names else ""
    action = InstanceRefresh(
        change=Change(address, {"launch_template": f"{was}{', '.join(before)}".strip(), "instances": len(stale)},
                      {"launch_template": str(template), "instances": len(stale)}),
        reason="",
        fleet=name, batch=0, group=observed.group, template=template, before=before,
        instances=tuple(i.id for i in stale), preferences=prefs, launch_hook=rollout.launch_hook.name,
        health_check=rollout.health_check, timeout=refresh_timeout(prefs, rollout, observed, len(stale)),
    )  # fmt: skip
    waits = f"; waits up to {_minutes(action.timeout)}, converging each new instance before it serves"
    reason = f"instance refresh {observed.group}: {action.summary()}{waits}"
    action = replace(action, reason=reason)
    unit = Unit(id=refresh_unit_id(name), actions=(action,), after=tuple(after))
    return RefreshPlan(units=(unit,))


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _minutes(seconds: float) -> str:
    return f"{math.ceil(seconds / 60)}m"
