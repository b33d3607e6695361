"""The fields of instance rotation: a fleet's launch template, and how its instances are replaced. Pure.

A fleet host entry may name the launch template and version its instances must run
(``launchTemplate: {name: popcon-prod-lt, version: "7"}``: a number, never ``$Latest``
or ``$Default``, which AWS itself cannot roll back); ``spec.rollout`` says how an
instance on another version is replaced (``rotation: replace``, terminate-and-replace
by the reconciler, or ``instanceRefresh``, AWS's own engine), the launch lifecycle hook
that holds a new instance out of the target groups until its stacks run
(``launchHook``), and when an instance that cannot be reconciled is replaced
(``replaceUnhealthy``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from reconciler.core.fleet import parse_duration
from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.messages import describe_value, invalid

TEMPLATE_NAME_RE = re.compile(r"[a-zA-Z0-9().\-/_]{3,128}")  # EC2 CreateLaunchTemplate's rule
HOOK_NAME_RE = re.compile(r"[A-Za-z0-9\-_/]{1,255}")  # Auto Scaling PutLifecycleHook's rule
HOOK_TIMEOUT_RANGE = (30.0, 7200.0)  # PutLifecycleHook HeartbeatTimeout: 30 s to 2 h
MAX_UNREACHABLE_TICKS = 100


def _check_template_name(value: str) -> str:
    if not TEMPLATE_NAME_RE.fullmatch(value):
        raise invalid(
            "launch_template_name",
            f"'{value}' is not a launch template name (3-128 letters, digits, '(', ')', '.', '-', '/', '_')",
        )
    return value


def _check_version(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid("launch_template_version", f'must be a version number like "7", got {describe_value(value)}')
    text = str(value)
    if text in ("$Latest", "$Default"):
        raise invalid(
            "launch_template_version",
            f"'{text}' is not a fixed version: name the number (e.g. \"7\"), which a rollback can set back "
            "(AWS cannot roll back from $Latest or $Default)",
        )
    if not text.isdigit() or int(text) < 1:
        raise invalid("launch_template_version", f"'{text}' is not a version number: a positive integer like \"7\"")
    return value


def _check_hook_name(value: str) -> str:
    if not HOOK_NAME_RE.fullmatch(value):
        raise invalid(
            "launch_hook_name", f"'{value}' is not a lifecycle hook name (1-255 letters, digits, '-', '_', '/')"
        )
    return value


def _check_hook_timeout(value: str) -> str:
    seconds = parse_duration(value)
    if seconds is None:
        raise invalid("duration", f"'{value}' is not a duration: write e.g. 30s, 10m or 1h")
    low, high = HOOK_TIMEOUT_RANGE
    if not low <= seconds <= high:
        raise invalid("launch_hook_timeout", f"'{value}' is out of range: a lifecycle hook waits 30s to 2h")
    return value


def _replace_unhealthy_shorthand(value: object) -> object:
    """``true`` is the defaults, ``false`` is None (never replace), a mapping is read as the section."""
    if value is True:
        return {}
    if value is False:
        return None
    if isinstance(value, dict | ReplaceUnhealthySection):
        return value
    raise invalid(
        "replace_unhealthy",
        f"must be false, true or a mapping like {{unreachableTicks: 3}}, got {describe_value(value)}",
    )


TemplateName = Annotated[
    str, AfterValidator(_check_template_name), WithJsonSchema({"type": "string", "minLength": 3, "maxLength": 128})
]
TemplateVersion = Annotated[
    Any,
    AfterValidator(_check_version),
    WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+$"}]}),
]
HookName = Annotated[str, AfterValidator(_check_hook_name), WithJsonSchema({"type": "string", "maxLength": 255})]
HookTimeout = Annotated[
    str, AfterValidator(_check_hook_timeout), WithJsonSchema({"type": "string", "pattern": r"^([0-9.]+(ms|s|m|h))+$"})
]


class LaunchTemplateSection(SpecModel):
    name: TemplateName = Field(description="The EC2 launch template's name, e.g. popcon-prod-lt.")
    version: TemplateVersion = Field(
        description='Its version number, e.g. "7" (never $Latest or $Default: a rollback sets the last '
        "good number back). Instances on another version are rotated."
    )


class LaunchHookSection(SpecModel):
    name: HookName = Field(
        "reconciler-launch",
        description="The group's launch lifecycle hook (autoscaling:EC2_INSTANCE_LAUNCHING) that holds a new "
        "instance in Pending:Wait, out of the target groups, until the reconciler has converged its stacks "
        "and completes it (CONTINUE; ABANDON when it cannot). The reconciler creates it (PutLifecycleHook, "
        "DefaultResult ABANDON) when the group lacks it.",
    )
    timeout: HookTimeout = Field(
        "10m",
        description="The hook's heartbeat timeout (30s to 2h): a new instance not completed by then is "
        "abandoned (terminated and replaced) rather than put in service unconverged.",
    )


class ReplaceUnhealthySection(SpecModel):
    unreachable_ticks: int = Field(
        3,
        description="Ticks in a row an instance's engine must be unreachable before the instance is marked "
        "unhealthy (SetInstanceHealth) for the group to replace it.",
        ge=1,
        le=MAX_UNREACHABLE_TICKS,
    )


ReplaceUnhealthy = Annotated[
    ReplaceUnhealthySection | None,
    BeforeValidator(_replace_unhealthy_shorthand, json_schema_input_type=bool | ReplaceUnhealthySection),
]
