"""A real boto3 Auto Scaling client under botocore's Stubber, for the instance refresh path (moto
5.2.5 has neither instance refresh nor lifecycle actions). Every request the code sends is checked
against the real service model by the client itself (parameter validation runs before the stub
answers, though it checks only types, required members and minimums) and, here, against the whole
model: maximums, enums and patterns too (:func:`model_errors`); and against the expected
parameters. Every stubbed answer is checked against the model by the Stubber. A fake clock whose
sleep moves it: nothing waits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.model import OperationModel, Shape
from botocore.stub import Stubber

from reconciler.core.instance_refresh import RefreshPreferences
from reconciler.core.rotation import LaunchTemplateRef

GROUP = "popcon-prod-asg"
TEMPLATE = LaunchTemplateRef("popcon-prod", "2")
START = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def autoscaling_client() -> Any:
    return boto3.client(
        "autoscaling", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _pattern(shape: Shape) -> re.Pattern[str] | None:
    try:
        return re.compile(str(shape.metadata["pattern"]))
    except (KeyError, re.error):  # surrogate ranges Python's re cannot read: the length still counts
        return None


def model_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Where ``value`` breaks ``shape`` of the service model: unknown or missing members, types,
    min/max (of integers, of lengths), enums, patterns. Empty when AWS would take it."""
    meta = shape.metadata
    errors: list[str] = []

    def bounds(n: int, what: str) -> None:
        if "min" in meta and n < meta["min"]:
            errors.append(f"{path}: {what} {n} below {meta['min']}")
        if "max" in meta and n > meta["max"]:
            errors.append(f"{path}: {what} {n} above {meta['max']}")

    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not a structure"]
        members = shape.members  # type: ignore[attr-defined]
        errors += [f"{path}.{k}: not in the model" for k in value if k not in members]
        errors += [f"{path}.{k}: required" for k in shape.required_members if k not in value]
        for key, item in value.items():
            if key in members:
                errors += model_errors(item, members[key], f"{path}.{key}")
    elif shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        bounds(len(value), "length")
        for n, item in enumerate(value):
            errors += model_errors(item, shape.member, f"{path}[{n}]")  # type: ignore[attr-defined]
    elif shape.type_name == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: not an integer"]
        bounds(value, "value")
    elif shape.type_name == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: not a boolean")
    elif shape.type_name == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        bounds(len(value), "length")
        if shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            errors.append(f"{path}: {value!r} not one of {shape.enum}")  # type: ignore[attr-defined]
        pattern = _pattern(shape)
        if pattern is not None and not pattern.fullmatch(value):
            errors.append(f"{path}: {value!r} does not match {pattern.pattern}")
    return errors


class ModelViolation(AssertionError):
    pass


def _check_against_model(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
    errors = model_errors(params, model.input_shape, model.name) if model.input_shape is not None else []
    if errors:
        raise ModelViolation("; ".join(errors))


@contextmanager
def stubbed(*, all_used: bool = True) -> Iterator[tuple[Any, Stubber]]:
    """A client and its Stubber, activated; every queued answer must have been used (``all_used``)."""
    client = autoscaling_client()
    client.meta.events.register_first("before-parameter-build.auto-scaling", _check_against_model)
    stub = Stubber(client)
    with stub:
        yield client, stub
    if all_used:
        stub.assert_no_pending_responses()
    client.close()


def refresh(
    status: str,
    *,
    refresh_id: str = "r-1",
    percent: int = 0,
    to_update: int | None = None,
    reason: str | None = None,
    template: LaunchTemplateRef = TEMPLATE,
    prefs: dict[str, Any] | None = None,
    rollback_reason: str | None = None,
    minutes: int = 0,
) -> dict[str, Any]:
    """One InstanceRefresh as DescribeInstanceRefreshes answers it."""
    item: dict[str, Any] = {
        "InstanceRefreshId": refresh_id,
        "AutoScalingGroupName": GROUP,
        "Status": status,
        "StartTime": START + timedelta(minutes=minutes),
        "PercentageComplete": percent,
        "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateName": template.name, "Version": template.version}},
        "Strategy": "Rolling",
    }
    if to_update is not None:
        item["InstancesToUpdate"] = to_update
    if reason:
        item["StatusReason"] = reason
    if prefs:
        item["Preferences"] = prefs
    if rollback_reason:
        item["RollbackDetails"] = {"RollbackReason": rollback_reason}
    return item


def describe(stub: Stubber, *items: dict[str, Any], ids: tuple[str, ...] = ()) -> None:
    params: dict[str, Any] = {"AutoScalingGroupName": GROUP}
    if ids:
        params["InstanceRefreshIds"] = list(ids)
    stub.add_response("describe_instance_refreshes", {"InstanceRefreshes": list(items)}, params)


def throttle(stub: Stubber, method: str) -> None:
    stub.add_client_error(method, service_error_code="Throttling", service_message="Rate exceeded",
                          http_status_code=400)  # fmt: skip


PREFS = RefreshPreferences(min_healthy=50, max_healthy=100, instance_warmup=10, alarms=("a", "b"),
                           auto_rollback=True, bake_time=60)  # fmt: skip


def group_answer(*instances: tuple[str, str]) -> dict[str, Any]:
    """DescribeAutoScalingGroups of GROUP with (instance id, lifecycle state) instances."""
    return {
        "AutoScalingGroups": [
            {
                "AutoScalingGroupName": GROUP,
                "MinSize": 1,
                "MaxSize": 4,
                "DesiredCapacity": 2,
                "DefaultCooldown": 300,
                "AvailabilityZones": ["eu-west-1a"],
                "HealthCheckType": "ELB",
                "CreatedTime": START,
                "Instances": [
                    {
                        "InstanceId": i,
                        "AvailabilityZone": "eu-west-1a",
                        "LifecycleState": state,
                        "HealthStatus": "Healthy",
                        "ProtectedFromScaleIn": False,
                    }
                    for i, state in instances
                ],
            }
        ]
    }


def group(stub: Stubber, *instances: tuple[str, str]) -> None:
    stub.add_response("describe_auto_scaling_groups", group_answer(*instances), {"AutoScalingGroupNames": [GROUP]})


def completes(stub: Stubber, instance: str, result: str = "CONTINUE", hook: str = "reconciler-launch") -> None:
    params = {"AutoScalingGroupName": GROUP, "LifecycleHookName": hook, "InstanceId": instance,
              "LifecycleActionResult": result}  # fmt: skip
    stub.add_response("complete_lifecycle_action", {}, params)


def starts(stub: Stubber, request: dict[str, Any], refresh_id: str = "r-1") -> None:
    stub.add_response("start_instance_refresh", {"InstanceRefreshId": refresh_id}, request)


def cancels(stub: Stubber, refresh_id: str = "r-1") -> None:
    params = {"AutoScalingGroupName": GROUP, "WaitForTransitioningInstances": True}
    stub.add_response("cancel_instance_refresh", {"InstanceRefreshId": refresh_id}, params)
