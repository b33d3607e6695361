"""What a rotation reads of a fleet beyond its instances: the group's launch template, its launch hook,
whether the wanted template version exists. Pure.

An instance's own template is on :class:`~reconciler.core.fleet_observed.ObservedInstance`
(``name:version`` as the group reports it).
"""

from __future__ import annotations

from dataclasses import dataclass

PENDING_WAIT = "Pending:Wait"  # a new instance held by a launch hook

HOOK_PRESENT = "present"
HOOK_MISSING = "missing"


@dataclass(frozen=True)
class ObservedLaunch:
    template: str = ""  # the group's launch template, name:version ("" for a launch configuration)
    hook: str = ""  # the wanted launch hook: "" (none wanted), present, missing, or how it differs
    missing_version: str = ""  # the wanted template version when it does not exist ("name version")


def template_key(name: str, version: str) -> str:
    """How the Auto Scaling API's LaunchTemplate reads here: ``name:version``."""
    return f"{name}:{version}"


def version_of(key: str) -> str:
    """``popcon-prod-lt:2`` -> ``2`` ("" when there is none)."""
    return key.rpartition(":")[2] if ":" in key else ""


NO_LAUNCH = ObservedLaunch()  # nothing read: no rotation fields in the spec
