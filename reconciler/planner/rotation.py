"""Instance rotation in a fleet's rollout: the group's launch template and hook, the instances to
replace, and the new instances to converge before they serve. Pure.

Given a fleet as observed, :func:`plan_rotation` says

* what the group needs first (one unit, ``rollout:web/template``): its launch hook created
  (PutLifecycleHook, when ``spec.rollout.launchHook`` is set and the group lacks it), its launch
  template set (UpdateAutoScalingGroup, when it launches another version than the fleet's
  ``launchTemplate``), and the new instances held in Pending:Wait on another version rejected
  (CompleteLifecycleAction ABANDON: the group launches another, on the version just set);
* which serving instances run another version: the rollout replaces them, a batch at a time, by
  the rules of a stack change (:mod:`.rollout` places a :class:`RotateInstance` in each batch);
* which new instances the launch hook holds (Pending:Wait, on the wanted version): each gets every
  stack of the fleet (the units the stack planner made for it), the health gate, then
  CompleteLifecycleAction CONTINUE, before any batch (``rollout:web/launch/<id>``). That is also
  how an instance the group adds outside a rollout (scale-out) is converged within one tick.

A template version that does not exist is a problem naming it, and nothing of the rotation is planned.
With ``rotation: instanceRefresh`` AWS replaces the instances: no instance is rotated here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.core.actions import Action, Change
from reconciler.core.address import fleet_address, instance_address
from reconciler.core.fleet import FleetSpec, RolloutSpec, format_duration
from reconciler.core.fleet_observed import ObservedFleet, ObservedInstance
from reconciler.core.launch_observed import HOOK_MISSING, HOOK_PRESENT, PENDING_WAIT, template_key, version_of
from reconciler.core.plan import ROLLOUT_PREFIX, Problem, Unit
from reconciler.core.rollout_actions import HealthGate, TargetGroupRef
from reconciler.core.rotation import Rotation
from reconciler.core.rotation_actions import (
    ABANDON,
    CONTINUE,
    CompleteLaunch,
    PutLaunchHook,
    RotateInstance,
    SetLaunchTemplate,
)

LAUNCH_TIMEOUT = 600.0  # seconds a replacement may take to be launched without a hook


def launch_unit_id(fleet: str, instance: str) -> str:
    return f"{ROLLOUT_PREFIX}{fleet}/launch/{instance}"


def template_unit_id(fleet: str) -> str:
    return f"{ROLLOUT_PREFIX}{fleet}/template"


def _wanted(fleet: FleetSpec | None) -> str | None:
    lt = fleet.launch_template if fleet is not None else None
    return template_key(lt.name, lt.version) if lt is not None else None


def launching(observed: ObservedFleet, rollout: RolloutSpec, fleet: FleetSpec | None) -> tuple[ObservedInstance, ...]:
    """The new instances the launch hook holds that are to be converged: Pending:Wait, with an
    address, on the wanted template version (or any, when the spec names none)."""
    if rollout.launch_hook is None or observed.error is not None:
        return ()
    wanted = _wanted(fleet)
    return tuple(
        i
        for i in observed.instances
        if i.lifecycle == PENDING_WAIT
        and i.id in observed.docker_urls
        and (wanted is None or i.launch_template == wanted)
    )


@dataclass(frozen=True)
class RotationPlan:
    head: tuple[Unit, ...] = ()  # the template unit, then each launching instance's units
    rotate: frozenset[str] = frozenset()  # serving instances to replace
    problems: tuple[Problem, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """The head's rollout units (what the batches wait for)."""
        return tuple(u.id for u in self.head if u.id.startswith(ROLLOUT_PREFIX))


def _change(address: str, before: str, after: str) -> Change:
    return Change(address, {"state": before}, {"state": after})


def _group_steps(name: str, observed: ObservedFleet, rollout: RolloutSpec, fleet: FleetSpec | None) -> list[Action]:
    group = observed.group
    steps: list[Action] = []
    hook = rollout.launch_hook
    if hook is not None and observed.launch.hook not in ("", HOOK_PRESENT):
        why = "missing" if observed.launch.hook == HOOK_MISSING else f"differs ({observed.launch.hook})"
        steps.append(
            PutLaunchHook(
                change=Change(
                    f"{fleet_address(name)}/hook/{hook.name}",
                    None,
                    {"transition": "launching", "timeout": format_duration(hook.timeout), "default_result": ABANDON},
                ),
                reason=f"launch hook {hook.name} of {group} {why}: it holds a new instance out of the load balancer "
                "until its stacks run",
                fleet=name,
                batch=0,
                group=group,
                hook=hook.name,
                timeout=hook.timeout,
            )
        )
    lt = fleet.launch_template if fleet is not None else None
    if rollout.rotation is Rotation.INSTANCE_REFRESH:  # the refresh's DesiredConfiguration sets the
        lt = None  # group's template once it succeeds (set before, AWS's AutoRollback would have nothing to go back to)
    if lt is not None and observed.launch.template != template_key(lt.name, lt.version):
        before = observed.launch.template.replace(":", " ") or "a launch configuration"
        steps.append(
            SetLaunchTemplate(
                change=Change(
                    f"{fleet_address(name)}/launch_template",
                    {"launch_template": before},
                    {"launch_template": f"{lt.name} {lt.version}"},
                ),
                reason=f"{group} launches {before}; new instances must run {lt.name} {lt.version}",
                fleet=name,
                batch=0,
                group=group,
                template=lt.name,
                version=lt.version,
                previous=before,
            )
        )
    wanted = _wanted(fleet) if lt is not None else None  # the refresh converges every new instance
    if hook is not None and wanted is not None:
        for instance in observed.instances:
            if instance.lifecycle == PENDING_WAIT and instance.launch_template != wanted:
                steps.append(
                    CompleteLaunch(
                        change=_change(f"{instance_address(instance.id)}/launch", PENDING_WAIT, "abandoned"),
                        reason=f"launched on {instance.launch_template.replace(':', ' ') or 'no template'}, "
                        f"not {wanted.replace(':', ' ')}: abandoned (the group launches another)",
                        fleet=name,
                        batch=0,
                        group=group,
                        instance=instance.id,
                        hook=hook.name,
                        result=ABANDON,
                    )
                )
    return steps


def _launch_units(
    name: str,
    observed: ObservedFleet,
    rollout: RolloutSpec,
    fleet: FleetSpec | None,
    by_host: Mapping[str, Sequence[Unit]],
    refs: tuple[TargetGroupRef, ...],
    gate: Callable[[ObservedInstance, int], HealthGate | None],
    after: tuple[str, ...],
) -> list[Unit]:
    hook = rollout.launch_hook
    out: list[Unit] = []
    if hook is None:
        return out
    for instance in launching(observed, rollout, fleet):
        own = by_host.get(instance.id, [])
        ids = {u.id for u in own}
        for unit in own:
            out.append(replace(unit, after=tuple(dict.fromkeys((*(a for a in unit.after if a in ids), *after)))))
        names = ", ".join(r.name for r in refs) or "its target groups"
        steps: list[Action] = [g for g in (gate(instance, 0),) if g is not None]
        steps.append(
            CompleteLaunch(
                change=_change(f"{instance_address(instance.id)}/launch", PENDING_WAIT, "in service"),
                reason=f"new instance held by launch hook {hook.name}: once its stacks run and it is healthy, "
                f"CONTINUE puts it in service ({names}), waits until reported healthy",
                fleet=name,
                batch=0,
                group=observed.group,
                instance=instance.id,
                hook=hook.name,
                result=CONTINUE,
                target_groups=refs,
            )
        )
        out.append(
            Unit(id=launch_unit_id(name, instance.id), actions=tuple(steps), after=(*after, *(u.id for u in own)))
        )
    return out


def plan_rotation(
    name: str,
    observed: ObservedFleet,
    rollout: RolloutSpec,
    fleet: FleetSpec | None,
    by_host: Mapping[str, Sequence[Unit]],
    refs: tuple[TargetGroupRef, ...],
    gate: Callable[[ObservedInstance, int], HealthGate | None],
) -> RotationPlan:
    """The group's changes, the new instances' units and the instances to replace (module docstring)."""
    if observed.launch.missing_version:
        problem = Problem(
            fleet_address(name),
            f"launch template {observed.launch.missing_version} does not exist (DescribeLaunchTemplateVersions): "
            "nothing is rotated and the group is left as it is",
        )
        return RotationPlan(problems=(problem,))
    head: list[Unit] = []
    steps = _group_steps(name, observed, rollout, fleet)
    after: tuple[str, ...] = ()
    if steps:
        head.append(Unit(id=template_unit_id(name), actions=tuple(steps)))
        after = (template_unit_id(name),)
    head.extend(_launch_units(name, observed, rollout, fleet, by_host, refs, gate, after))
    wanted = _wanted(fleet)
    rotate: frozenset[str] = frozenset()
    if wanted is not None and rollout.rotation is Rotation.REPLACE:
        rotate = frozenset(i.id for i in observed.serving if i.launch_template != wanted)
    return RotationPlan(tuple(head), rotate)


def rotate_action(
    name: str, observed: ObservedFleet, rollout: RolloutSpec, fleet: FleetSpec, instance: ObservedInstance, batch: int
) -> RotateInstance:
    """The step that replaces ``instance`` (already out of the load balancer) in batch ``batch``."""
    lt = fleet.launch_template
    assert lt is not None
    hook = rollout.launch_hook
    before = version_of(instance.launch_template)
    was = f"{lt.name} {before}" if before else "no launch template"
    held = f"held by {hook.name} until converged" if hook else "registered once converged (no launch hook)"
    return RotateInstance(
        change=_change(instance_address(instance.id), f"{was}", f"replaced by {lt.name} {lt.version}"),
        reason=f"launch template {lt.name} {before or '-'} -> {lt.version}: terminated, the group launches a "
        f"replacement ({held})",
        fleet=name,
        batch=batch,
        group=observed.group,
        instance=instance.id,
        template=lt.name,
        before=before,
        after=lt.version,
        hook=hook.name if hook else None,
        launch_timeout=hook.timeout if hook else LAUNCH_TIMEOUT,
    )
