"""Observe what a fleet's rotation depends on: the group's launch template, the launch hook, whether the
wanted template version exists. Does I/O (through :class:`~reconciler.drivers.aws.lifecycle.LaunchReader`).

Nothing is asked on an idle tick beyond the group's description: the template version is checked
only when the group or an instance runs another one, and the hook once per process once it is as
wanted (the reader's memo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.fleet import FleetSpec, RolloutSpec
from reconciler.core.fleet_observed import ObservedInstance
from reconciler.core.launch_observed import HOOK_MISSING, HOOK_PRESENT, ObservedLaunch, template_key
from reconciler.drivers.aws.lifecycle import LaunchReader, wanted_hook


def group_template(group: Mapping[str, Any]) -> str:
    """The group's launch template as ``name:version`` ("" with a launch configuration)."""
    spec = group.get("LaunchTemplate") or (
        ((group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")
    )
    if not spec:
        return ""
    return template_key(str(spec.get("LaunchTemplateName", "")), str(spec.get("Version", "")))


def observe_launch(
    reader: LaunchReader,
    fleet: FleetSpec,
    rollout: RolloutSpec,
    group: Mapping[str, Any],
    instances: Sequence[ObservedInstance],
) -> ObservedLaunch:
    """The group's template, the wanted hook's state and a missing template version of ``fleet``."""
    current = group_template(group)
    missing = ""
    wanted = fleet.launch_template
    if wanted is not None:
        key = template_key(wanted.name, wanted.version)
        differs = current != key or any(i.launch_template != key for i in instances)
        if differs and not reader.version_exists(wanted.name, wanted.version):
            missing = f"{wanted.name} {wanted.version}"
    hook = ""
    spec = rollout.launch_hook
    if spec is not None:
        want = wanted_hook(spec.name, spec.timeout)
        found = reader.hook(fleet.group, spec.name, want)
        if found is None:
            hook = HOOK_MISSING
        elif found == want:
            hook = HOOK_PRESENT
        else:
            hook = (
                f"{found.transition}, {found.timeout:g}s, DefaultResult {found.default_result}; wanted "
                f"{want.transition}, {want.timeout:g}s, DefaultResult {want.default_result}"
            )
    return ObservedLaunch(template=current, hook=hook, missing_version=missing)
