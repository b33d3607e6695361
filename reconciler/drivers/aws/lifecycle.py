"""Auto Scaling and EC2 for instance rotation: the launch hook, launch template versions, and the
group's changes (its template, its hook, terminating an instance, completing a launch). Does I/O (boto3).

:class:`LaunchReader` reads what a rotation depends on, each at most once per process
once it is as wanted (:class:`LaunchMemo`, shared by the readers of one endpoint and
region, as :class:`~reconciler.drivers.aws.fleet.FleetMemo` is): whether a launch template
version exists (DescribeLaunchTemplateVersions, asked only when an instance or the group
runs another version) and the group's launch hook (DescribeLifecycleHooks). An idle tick
asks neither again. :class:`LaunchWriter` makes the changes: UpdateAutoScalingGroup,
PutLifecycleHook, TerminateInstanceInAutoScalingGroup (never decrementing the desired
capacity) and CompleteLifecycleAction. Errors are
:class:`~reconciler.core.errors.TemporaryError` / :class:`~reconciler.core.errors.PermanentError`
naming the resource and the endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.core.rotation import LAUNCHING
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.fleet import FleetClients, PacedWriter
from reconciler.drivers.aws.retrying import READ_RETRY_BUDGET, read_retrying

MISSING_VERSION = frozenset(
    {
        "InvalidLaunchTemplateId.VersionNotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateId.Malformed",
    }
)


@dataclass(frozen=True)
class ObservedHook:
    """A lifecycle hook as DescribeLifecycleHooks gives it."""

    name: str
    transition: str
    timeout: float
    default_result: str


@dataclass
class LaunchMemo:
    """What a process knows for good: template versions that exist, hooks found as wanted."""

    versions: set[tuple[str, str]] = field(default_factory=set)  # (template name, version)
    hooks: dict[tuple[str, str], ObservedHook] = field(default_factory=dict)  # (group, hook) -> as found


_MEMOS: dict[tuple[str, str], LaunchMemo] = {}
_MEMOS_LOCK = threading.Lock()


def launch_memo(clients: FleetClients) -> LaunchMemo:
    key = (endpoint_of(clients.autoscaling), str(getattr(clients.autoscaling.meta, "region_name", "")))
    with _MEMOS_LOCK:
        return _MEMOS.setdefault(key, LaunchMemo())


class LaunchReader:
    """The reads of a rotation (works on read-only clients)."""

    def __init__(
        self,
        clients: FleetClients,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        memo: LaunchMemo | None = None,
    ) -> None:
        self._c = clients
        self._sleep, self._clock = sleep, clock
        self._memo = memo if memo is not None else launch_memo(clients)

    def _read(self, call: Callable[[], Any]) -> Any:
        return read_retrying(call, sleep=self._sleep, clock=self._clock, budget=READ_RETRY_BUDGET)

    def version_exists(self, template: str, version: str) -> bool:
        """Launch template ``template`` has version ``version`` (asked once per process when it does)."""
        if (template, version) in self._memo.versions:
            return True
        client = self._c.ec2
        with translate_errors(f"launch template {template} version {version}", endpoint=endpoint_of(client)):
            try:
                resp = self._read(
                    lambda: client.describe_launch_template_versions(LaunchTemplateName=template, Versions=[version])
                )
            except ClientError as exc:
                if error_code(exc) in MISSING_VERSION:
                    return False
                raise
        found = any(str(v.get("VersionNumber")) == version for v in resp.get("LaunchTemplateVersions", []))
        if found:
            self._memo.versions.add((template, version))
        return found

    def hook(self, group: str, name: str, wanted: ObservedHook | None = None) -> ObservedHook | None:
        """The group's lifecycle hook ``name`` (None when it has none). Once found equal to ``wanted``
        it is not asked again by this process."""
        key = (group, name)
        known = self._memo.hooks.get(key)
        if known is not None and known == wanted:
            return known
        client = self._c.autoscaling
        with translate_errors(f"lifecycle hook {name} of {group}", endpoint=endpoint_of(client)):
            resp = self._read(
                lambda: client.describe_lifecycle_hooks(AutoScalingGroupName=group, LifecycleHookNames=[name])
            )
        for raw in resp.get("LifecycleHooks", []):
            if raw.get("LifecycleHookName") == name:
                hook = ObservedHook(
                    name=name,
                    transition=str(raw.get("LifecycleTransition", "")),
                    timeout=float(raw.get("HeartbeatTimeout") or 0),
                    default_result=str(raw.get("DefaultResult", "")),
                )
                if hook == wanted:
                    self._memo.hooks[key] = hook
                return hook
        self._memo.hooks.pop(key, None)
        return None

    def forget_hook(self, group: str, name: str) -> None:
        """Ask for the hook again next time (after this process changed it)."""
        self._memo.hooks.pop((group, name), None)


def wanted_hook(name: str, timeout: float) -> ObservedHook:
    """The hook the reconciler makes: on launch, ``timeout`` seconds, ABANDON when nobody completes it."""
    return ObservedHook(name, LAUNCHING, float(round(timeout)), "ABANDON")


class LaunchWriter(PacedWriter):
    """The group's changes of a rotation, paced; each is safe to repeat."""

    SERVICE = "autoscaling"
    RATE = 5.0

    def set_template(self, group: str, template: str, version: str) -> None:
        """UpdateAutoScalingGroup: new instances are launched from ``template`` ``version``."""
        spec: Any = {"LaunchTemplateName": template, "Version": version}
        self._write(
            f"autoscaling group {group}",
            lambda: self._c.autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, LaunchTemplate=spec),
        )

    def put_hook(self, group: str, hook: ObservedHook) -> None:
        """PutLifecycleHook (creates or updates it)."""
        self._write(
            f"lifecycle hook {hook.name} of {group}",
            lambda: self._c.autoscaling.put_lifecycle_hook(
                AutoScalingGroupName=group,
                LifecycleHookName=hook.name,
                LifecycleTransition=hook.transition,
                HeartbeatTimeout=int(hook.timeout),
                DefaultResult=hook.default_result,
            ),
        )

    def terminate(self, instance: str) -> None:
        """TerminateInstanceInAutoScalingGroup, the desired capacity kept (the group launches a
        replacement). Not retried: a second call after a lost answer would fail on an instance
        already terminating; the caller looks at the group instead."""
        client = self._c.autoscaling
        self._limiter.acquire()
        with translate_errors(f"instance {instance}", endpoint=endpoint_of(client)):
            client.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=False)

    def complete(self, group: str, hook: str, instance: str, result: str) -> bool:
        """CompleteLifecycleAction by instance id; False when there is no action waiting for it (it
        was completed already, or timed out): AWS answers ValidationError."""
        try:
            self._write(
                f"instance {instance}",
                lambda: self._c.autoscaling.complete_lifecycle_action(
                    AutoScalingGroupName=group,
                    LifecycleHookName=hook,
                    InstanceId=instance,
                    LifecycleActionResult=result,
                ),
            )
        except PermanentError as exc:
            if "(ValidationError)" in exc.message:
                return False
            raise
        return True
