"""The steps of instance rotation: set the group's launch template and hook, replace an instance,
complete a launch. Does I/O (through :class:`~reconciler.executor.rollout.FleetDrivers`).

Replacing an instance (:func:`rotate`), already out of the load balancer and drained by the
batch's leave step: TerminateInstanceInAutoScalingGroup without decrementing the desired
capacity; wait until the group has launched a replacement (a new instance, Pending:Wait under
the launch hook, or InService without one, with an address); hand it to ``drivers.converge``,
which plans and runs the units a new instance gets (every stack of the fleet, the health gate,
CompleteLifecycleAction CONTINUE or, without a hook, registration; then the target groups report
it healthy); on a failure there, ABANDON (the group terminates it). The instances of a batch are
replaced at once, each claiming one new instance. Every wait is bounded and uses the injected
clock and sleep.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.core.errors import PermanentError, ReconcilerError
from reconciler.core.fleet import format_duration
from reconciler.core.launch_observed import PENDING_WAIT
from reconciler.core.rotation_actions import (
    ABANDON,
    CONTINUE,
    CompleteLaunch,
    PutLaunchHook,
    RotateInstance,
    SetLaunchTemplate,
)
from reconciler.drivers.aws.lifecycle import LaunchWriter, wanted_hook

if TYPE_CHECKING:
    from reconciler.executor.rollout import FleetDrivers

LAUNCHED = (PENDING_WAIT, "InService")  # a replacement ready to be converged


class RotationFailed(PermanentError):
    """A replacement was not launched, or could not be converged."""


@dataclass
class Claims:
    """The new instances already taken by a replacement of this run (a batch replaces at once)."""

    taken: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, candidates: Sequence[str]) -> str | None:
        with self.lock:
            for candidate in candidates:
                if candidate not in self.taken:
                    self.taken.add(candidate)
                    return candidate
        return None


def _writer(drivers: FleetDrivers) -> LaunchWriter:
    if drivers.launches is None:
        raise ReconcilerError("this environment has no Auto Scaling writer: a rotation step cannot run")
    return drivers.launches


def set_launch_template(drivers: FleetDrivers, action: SetLaunchTemplate) -> str:
    _writer(drivers).set_template(action.group, action.template, action.version)
    return f"{action.group} launches {action.template} {action.version} (was {action.previous})"


def put_launch_hook(drivers: FleetDrivers, action: PutLaunchHook) -> str:
    _writer(drivers).put_hook(action.group, wanted_hook(action.hook, action.timeout))
    return f"launch hook {action.hook} on {action.group} (heartbeat {format_duration(action.timeout)}, ABANDON)"


def complete_launch(drivers: FleetDrivers, action: CompleteLaunch) -> str:
    done = _writer(drivers).complete(action.group, action.hook, action.instance, action.result)
    if action.result == ABANDON:
        return "abandoned" if done else "no launch waiting any more (already completed or timed out)"
    if not done and not _in_service(drivers, action.group, action.instance):
        raise RotationFailed(
            f"instance {action.instance}",
            f"launch hook {action.hook} no longer holds it (timed out: the group abandoned it)",
        )
    from reconciler.executor.rollout import join_wait

    return f"CONTINUE; {join_wait(drivers, action.target_groups, action.instance)}"


def _instances(drivers: FleetDrivers, group: str) -> list[Mapping[str, Any]]:
    found = drivers.reader.groups([group]).get(group)
    if found is None:
        raise RotationFailed(f"autoscaling group {group}", "does not exist any more")
    return list(found.get("Instances", []))


def _in_service(drivers: FleetDrivers, group: str, instance: str) -> bool:
    return any(
        i["InstanceId"] == instance and i.get("LifecycleState") == "InService" for i in _instances(drivers, group)
    )


def _replacement(drivers: FleetDrivers, action: RotateInstance, known: set[str]) -> str:
    """Wait for a new instance of the group (not in ``known``, not claimed) with an address."""
    started = drivers.clock()
    deadline = started + action.launch_timeout
    while True:
        fresh = [
            str(i["InstanceId"])
            for i in _instances(drivers, action.group)
            if str(i["InstanceId"]) not in known and i.get("LifecycleState") in LAUNCHED
        ]
        addressed = drivers.reader.instances(fresh) if fresh else {}
        new = drivers.claims.claim([i for i in fresh if i in addressed])
        if new is not None:
            return new
        if drivers.clock() >= deadline:
            raise RotationFailed(
                f"instance {action.instance}",
                f"no replacement launched by {action.group} within {format_duration(action.launch_timeout)}",
            )
        drivers.sleep(drivers.poll)


def rotate(drivers: FleetDrivers, action: RotateInstance) -> str:
    writer = _writer(drivers)
    if drivers.converge is None:
        raise ReconcilerError("this run cannot converge a new instance: a rotation step cannot run")
    instances = _instances(drivers, action.group)
    known = {str(i["InstanceId"]) for i in instances}
    with drivers.claims.lock:
        known |= drivers.claims.taken
    still = any(
        i["InstanceId"] == action.instance and not str(i.get("LifecycleState", "")).startswith("Terminat")
        for i in instances
    )
    if still:
        writer.terminate(action.instance)
    started = drivers.clock()
    new = _replacement(drivers, action, known)
    launched = format_duration(drivers.clock() - started)
    try:
        converged = drivers.converge(action.fleet, new)
    except ReconcilerError as exc:
        if action.hook is not None:
            with contextlib.suppress(ReconcilerError):  # else the hook's DefaultResult (ABANDON) at its timeout
                writer.complete(action.group, action.hook, new, ABANDON)
        raise RotationFailed(
            f"instance {action.instance}", f"its replacement {new} was not converged ({exc}); abandoned"
        ) from exc
    gone = "terminated" if still else "already gone"
    return f"{gone}; replaced by {new} ({action.template} {action.after}) launched in {launched}; {converged}"


ROTATION_STEPS: dict[type, Any] = {
    SetLaunchTemplate: set_launch_template,
    PutLaunchHook: put_launch_hook,
    RotateInstance: rotate,
    CompleteLaunch: complete_launch,
}

ROTATION_DOING: dict[type, str] = {
    SetLaunchTemplate: "setting the group's launch template",
    PutLaunchHook: "creating the launch hook",
    RotateInstance: "replacing the instance",
    CompleteLaunch: "completing the launch",
}

__all__ = ["CONTINUE", "ROTATION_DOING", "ROTATION_STEPS", "Claims"]
