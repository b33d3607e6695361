"""The rollout section of an Environment and the fields of a fleet host entry. Pure.

A fleet is a ``hosts`` entry with ``fromAutoScalingGroup``: its ``docker`` is a
template naming the instance (``ssh://ec2-user@{privateIp}``). ``spec.rollout``
says how a change reaches the fleet's instances: batches (a count or a percent,
CodeDeploy's OneAtATime and HalfAtATime), the minimum kept in service, the load
balancer's target groups and drain time, the HTTP health gate, the CloudWatch
alarms, the bake time and automatic rollback.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from reconciler.core.fleet import PLACEHOLDERS, fill_template, parse_duration, template_placeholders
from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.field_types import Reference, check_docker_host
from reconciler.spec.documents.messages import describe_value, invalid
from reconciler.spec.documents.rotation import LaunchHookSection, ReplaceUnhealthy

GROUP_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}")
ALARM_NAME_RE = re.compile(r"[^\s:][^:]{0,254}")
TARGET_GROUP_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:"
    r"targetgroup/[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}"
)
AMOUNT_RE = re.compile(r"([0-9]+)%")
MAX_ALARMS = 10  # CodeDeploy's and instance refresh's limit: a deploy watches at most 10 alarms


def _check_group(value: str) -> str:
    if not GROUP_NAME_RE.fullmatch(value):
        raise invalid(
            "group", f"'{value}' is not an Auto Scaling group name (up to 255 letters, digits, spaces, '.', '_', '-')"
        )
    return value


def _check_alarm(value: str) -> str:
    if not ALARM_NAME_RE.fullmatch(value):
        raise invalid("alarm", f"'{value}' is not a CloudWatch alarm name (1-255 characters, no ':')")
    return value


def _check_target_group(value: str) -> str:
    if not TARGET_GROUP_ARN_RE.fullmatch(value):
        raise invalid(
            "target_group",
            f"'{value}' is not a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:"
            "targetgroup/<name>/<16 hex digits>)",
        )
    return value


def _check_duration(value: str) -> str:
    if parse_duration(value) is None:
        raise invalid("duration", f"'{value}' is not a duration: write e.g. 30s, 2m, 1m30s, 500ms or 1h")
    return value


def _amount_check(kind: str, minimum: int) -> AfterValidator:
    """A count (an integer >= ``minimum``) or a percent string ``"N%"`` (``minimum``..100)."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise invalid(kind, f"must be a count or a percent like \"50%\", got {describe_value(value)}")
        if isinstance(value, int):
            if value < minimum:
                raise invalid(kind, f"{value} is too small: at least {minimum}")
            return value
        match = AMOUNT_RE.fullmatch(value)
        if not match:
            raise invalid(kind, f"'{value}' is not a count or a percent like \"50%\"")
        percent = int(match.group(1))
        if not minimum <= percent <= 100:
            raise invalid(kind, f"'{value}' is out of range: a percent from {minimum}% to 100%")
        return value

    return AfterValidator(check)


def check_docker_template(value: str) -> str:
    """A Docker URL, or a template of one naming the instance (``{privateIp}``...)."""
    names = template_placeholders(value)
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise invalid("docker_template", f"'{value}': unknown placeholder {{{unknown[0]}}}; known: {known}")
    if names:
        sample = fill_template(value, {"instanceId": "i-0123456789abcdef0", "privateIp": "10.0.1.11",
                                       "privateDnsName": "ip-10-0-1-11.ec2.internal"})  # fmt: skip
        check_docker_host(sample)
        return value
    return check_docker_host(value)


GroupName = Annotated[str, AfterValidator(_check_group), WithJsonSchema({"type": "string", "maxLength": 255})]
AlarmName = Annotated[str, AfterValidator(_check_alarm), WithJsonSchema({"type": "string", "maxLength": 255})]
TargetGroupArn = Annotated[
    str,
    AfterValidator(_check_target_group),
    WithJsonSchema({"type": "string", "pattern": f"^{TARGET_GROUP_ARN_RE.pattern}$"}),
]
Duration = Annotated[
    str, AfterValidator(_check_duration), WithJsonSchema({"type": "string", "pattern": r"^([0-9.]+(ms|s|m|h))+$"})
]
_AMOUNT_SCHEMA = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]}
BatchAmount = Annotated[Any, _amount_check("batch", 1), WithJsonSchema({**_AMOUNT_SCHEMA, "default": 1})]
MinHealthyAmount = Annotated[Any, _amount_check("min_healthy", 0), WithJsonSchema(_AMOUNT_SCHEMA)]
DockerTemplate = Annotated[str, AfterValidator(check_docker_template)]


class LoadBalancerSection(SpecModel):
    target_groups: list[TargetGroupArn] = Field(
        default_factory=list,
        description="The target groups an instance leaves before it changes and re-joins after its health "
        "gate. Default: the Auto Scaling group's own target groups.",
    )
    drain_timeout: Duration | None = Field(
        None,
        description="How long to wait for a leaving instance's connections to drain, e.g. 30s. Default: the "
        "target group's deregistration delay.",
    )


class HealthCheckSection(SpecModel):
    service: Reference = Field(
        description="The compose service the check is for: it must run on the fleet, and answer on the "
        "instance's address at this port (a published port)."
    )
    path: str = Field("/health", description="The HTTP path asked, e.g. /actuator/health.")
    port: int = Field(description="The port on the instance's private address, e.g. 3000.", ge=1, le=65535)
    interval: Duration = Field("10s", description="Time between attempts.")
    attempts: int = Field(30, description="Attempts before the gate fails (seed 001: 30 x 10 s).", ge=1, le=1000)
    timeout: Duration = Field("5s", description="How long one attempt may take.")

    @model_validator(mode="after")
    def _path(self) -> HealthCheckSection:
        if not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise invalid("path", f"'{self.path}' must start with '/' and hold no spaces")
        return self


class RolloutSection(SpecModel):
    batch: BatchAmount = Field(
        1, description="Instances changed at a time: a count, or a percent of the fleet (\"50%\" = CodeDeploy "
        "HalfAtATime). Default 1 (OneAtATime)."
    )
    min_healthy: MinHealthyAmount | None = Field(
        None,
        description="Never fewer instances in service than this (a count or a percent). Default: all but "
        "the batch being changed.",
    )
    load_balancer: LoadBalancerSection | None = Field(
        None, description="Target groups and drain time. Default: the group's target groups and their delay."
    )
    health_check: HealthCheckSection | None = Field(
        None,
        description="The HTTP check an instance must pass before it re-joins. Without it, container health "
        "and the target group's own health decide.",
    )
    alarms: list[AlarmName] = Field(
        default_factory=list,
        description=f"CloudWatch alarms watched during the rollout and the bake (at most {MAX_ALARMS}): one "
        "going to ALARM stops the rollout and rolls back.",
    )
    bake: Duration = Field("0s", description="How long alarms are watched after the last batch, e.g. 2m.")
    auto_rollback: bool = Field(
        True, description="Roll back to the last good state when a health gate or an alarm fails the rollout."
    )
    rotation: Literal["replace", "instanceRefresh"] = Field(
        "replace",
        description="How instances on another launch template version are replaced. replace: the "
        "reconciler terminates them a batch at a time (the group launches each replacement) and converges "
        "each new instance before it serves. instanceRefresh: AWS's instance refresh "
        "(StartInstanceRefresh) with the rollout's minHealthy, alarms and bake.",
    )
    launch_hook: LaunchHookSection | None = Field(
        None,
        description="The launch lifecycle hook that keeps a new instance out of the target groups until "
        "its stacks run (recommended; `launchHook: {}` for the defaults). Without it the reconciler "
        "registers a new instance itself once converged, but the group registers it on its own as soon as "
        "it is InService: it may take traffic before its stacks run.",
    )
    replace_unhealthy: ReplaceUnhealthy = Field(
        True,
        validate_default=True,
        description="Replace an instance that cannot be reconciled (its engine unreachable for "
        "unreachableTicks ticks in a row, ...): it is marked unhealthy (SetInstanceHealth) and the group "
        "replaces it, one at a time, never the last healthy one. false: never. Default: enabled, 3 ticks.",
    )

    @model_validator(mode="after")
    def _alarms(self) -> RolloutSection:
        if len(self.alarms) > MAX_ALARMS:
            raise invalid("alarms", f"{len(self.alarms)} alarms: at most {MAX_ALARMS} can gate a rollout")
        if len(set(self.alarms)) != len(self.alarms):
            raise invalid("alarms", "an alarm is named twice")
        return self
