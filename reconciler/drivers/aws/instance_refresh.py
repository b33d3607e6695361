"""Instance refresh: StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh, and
CompleteLifecycleAction for the new instances it launches. Does I/O (boto3).

:class:`InstanceRefresher` makes one call per method (``waiting``: the group's instances a launch
hook holds in Pending:Wait, one DescribeAutoScalingGroups); following a refresh to its end (there is no
waiter) is the executor's (:mod:`reconciler.executor.instance_refresh`). :func:`start_request` is
the request StartInstanceRefresh is sent, built from the reconciler's own types (pure). Reads are
retried on throttling, 5xx and dropped connections within a time budget (:func:`.read_retrying`);
the writes are paced by a limiter and retried on throttling only (:func:`.write_retrying`): a
throttled start did not start anything. A start refused with ``InstanceRefreshInProgress`` raises
:class:`RefreshInProgress` (the caller follows the refresh in progress instead of starting a
second). Errors are :class:`~reconciler.core.errors.TemporaryError` /
:class:`~reconciler.core.errors.PermanentError` naming the group and the endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.core.instance_refresh import RefreshPreferences, RefreshState
from reconciler.core.rotation import LaunchTemplateRef
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import READ_RETRY_BUDGET, RateLimiter, read_retrying, write_retrying

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient

R = TypeVar("R")

IN_PROGRESS = "InstanceRefreshInProgress"
NONE_ACTIVE = "ActiveInstanceRefreshNotFound"
CONTINUE, ABANDON = "CONTINUE", "ABANDON"
PENDING_WAIT = "Pending:Wait"


class RefreshInProgress(PermanentError):
    """StartInstanceRefresh refused: the group has a refresh in progress already."""


def start_request(group: str, template: LaunchTemplateRef, prefs: RefreshPreferences) -> dict[str, Any]:
    """StartInstanceRefresh's parameters for ``group``: a rolling refresh to ``template``. Pure."""
    preferences: dict[str, Any] = {
        "MinHealthyPercentage": prefs.min_healthy,
        "MaxHealthyPercentage": prefs.max_healthy,
        "SkipMatching": prefs.skip_matching,
        "AutoRollback": prefs.auto_rollback,
        "StandbyInstances": prefs.standby_instances,
        "ScaleInProtectedInstances": prefs.scale_in_protected_instances,
    }
    if prefs.instance_warmup is not None:
        preferences["InstanceWarmup"] = prefs.instance_warmup
    if prefs.checkpoints:
        preferences["CheckpointPercentages"] = list(prefs.checkpoints)
        if prefs.checkpoint_delay is not None:
            preferences["CheckpointDelay"] = prefs.checkpoint_delay
    if prefs.alarms:
        preferences["AlarmSpecification"] = {"Alarms": list(prefs.alarms)}
    if prefs.bake_time:
        preferences["BakeTime"] = prefs.bake_time
    return {
        "AutoScalingGroupName": group,
        "Strategy": "Rolling",
        "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateName": template.name, "Version": template.version}},
        "Preferences": preferences,
    }


def refresh_state(item: dict[str, Any]) -> RefreshState:
    """One entry of DescribeInstanceRefreshes as a :class:`RefreshState`. Pure."""
    spec = item.get("DesiredConfiguration", {}).get("LaunchTemplate", {})
    template = None
    if spec.get("LaunchTemplateName") and spec.get("Version"):
        template = LaunchTemplateRef(str(spec["LaunchTemplateName"]), str(spec["Version"]))
    started = item.get("StartTime")
    to_update = item.get("InstancesToUpdate")
    return RefreshState(
        id=str(item.get("InstanceRefreshId", "")),
        status=str(item.get("Status", "")),
        reason=str(item.get("StatusReason", "") or ""),
        percentage=int(item.get("PercentageComplete") or 0),
        to_update=int(to_update) if to_update is not None else None,
        template=template,
        rollback_reason=str(item.get("RollbackDetails", {}).get("RollbackReason", "") or ""),
        started=started.isoformat() if isinstance(started, datetime) else str(started or ""),
    )


class InstanceRefresher:
    """The calls of an instance refresh on one Auto Scaling client."""

    def __init__(
        self,
        client: AutoScalingClient,
        limiter: RateLimiter | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: float = READ_RETRY_BUDGET,
    ) -> None:
        self._client = client
        self._limiter = limiter or RateLimiter(2.0, burst=2)
        self._sleep, self._clock, self._budget = sleep, clock, budget

    def _read(self, call: Callable[[], R]) -> R:
        return read_retrying(call, sleep=self._sleep, clock=self._clock, budget=self._budget)

    def _write(self, call: Callable[[], R]) -> R:
        return write_retrying(call, sleep=self._sleep, limiter=self._limiter)

    def _where(self, group: str) -> Any:
        return translate_errors(f"autoscaling group {group}", endpoint=endpoint_of(self._client))

    def start(self, group: str, template: LaunchTemplateRef, prefs: RefreshPreferences) -> str:
        """Start a refresh of ``group`` to ``template``; its id. :class:`RefreshInProgress` when one
        is in progress already."""
        request = start_request(group, template, prefs)
        with self._where(group):
            try:
                answer = self._write(partial(self._client.start_instance_refresh, **request))
            except ClientError as exc:
                if error_code(exc) == IN_PROGRESS:
                    raise RefreshInProgress(f"autoscaling group {group}", "an instance refresh is in progress",
                                            endpoint=endpoint_of(self._client)) from None  # fmt: skip
                raise
        return str(answer["InstanceRefreshId"])

    def refreshes(self, group: str, ids: tuple[str, ...] = ()) -> list[RefreshState]:
        """The group's refreshes (or those of ``ids``), the most recent first (one call: AWS lists
        the most recent first, 50 a page; the first page holds any that is active)."""
        kwargs: dict[str, Any] = {"AutoScalingGroupName": group}
        if ids:
            kwargs["InstanceRefreshIds"] = list(ids)
        with self._where(group):
            answer = self._read(partial(self._client.describe_instance_refreshes, **kwargs))
        states = [refresh_state(dict(item)) for item in answer.get("InstanceRefreshes", [])]
        return sorted(states, key=lambda s: s.started, reverse=True)

    def refresh(self, group: str, refresh_id: str) -> RefreshState:
        """One refresh by id (a PermanentError when AWS does not know it)."""
        found = [s for s in self.refreshes(group, (refresh_id,)) if s.id == refresh_id]
        if not found:
            raise PermanentError(f"autoscaling group {group}", f"instance refresh {refresh_id} not found",
                                 endpoint=endpoint_of(self._client))  # fmt: skip
        return found[0]

    def active(self, group: str) -> RefreshState | None:
        """The group's refresh in progress (Pending, InProgress, Baking, Cancelling, RollbackInProgress)."""
        return next((s for s in self.refreshes(group) if s.active), None)

    def cancel(self, group: str) -> str | None:
        """Cancel the group's refresh in progress; its id, or None when there was none. AWS lets the
        replacements under way finish (WaitForTransitioningInstances) and keeps the group's template."""
        with self._where(group):
            try:
                answer = self._write(partial(self._client.cancel_instance_refresh, AutoScalingGroupName=group,
                                             WaitForTransitioningInstances=True))  # fmt: skip
            except ClientError as exc:
                if error_code(exc) == NONE_ACTIVE:
                    return None
                raise
        return str(answer.get("InstanceRefreshId", "")) or None

    def waiting(self, group: str) -> list[str]:
        """The group's instances held by a lifecycle hook on launch (``Pending:Wait``), oldest first
        as the group lists them (one DescribeAutoScalingGroups)."""
        with self._where(group):
            answer = self._read(partial(self._client.describe_auto_scaling_groups, AutoScalingGroupNames=[group]))
        found = answer.get("AutoScalingGroups", [])
        instances = found[0].get("Instances", []) if found else []
        return [str(i["InstanceId"]) for i in instances if i.get("LifecycleState") == PENDING_WAIT]

    def complete_launch(self, group: str, hook: str, instance: str, *, ok: bool) -> None:
        """CompleteLifecycleAction for ``instance`` held by the launch hook ``hook``: CONTINUE (it
        serves) or ABANDON (AWS terminates it). Retried like a read: completing twice is refused
        harmlessly by AWS (no action for the instance any more: a ValidationError, ignored here)."""
        result = CONTINUE if ok else ABANDON
        call = partial(self._client.complete_lifecycle_action, AutoScalingGroupName=group, LifecycleHookName=hook,
                       InstanceId=instance, LifecycleActionResult=result)  # fmt: skip
        with translate_errors(f"instance {instance}", endpoint=endpoint_of(self._client)):
            try:
                self._read(call)
            except ClientError as exc:
                message = str(exc.response.get("Error", {}).get("Message", ""))
                if error_code(exc) != "ValidationError" or "No active Lifecycle Action" not in message:
                    raise
