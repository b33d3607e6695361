"""The steps of instance rotation: set the group's launch template, create its launch hook, rotate an
instance (terminate it, the group launches a replacement that is converged before it serves), and
complete a launch. Pure data.

:class:`SetLaunchTemplate` (UpdateAutoScalingGroup) and :class:`PutLaunchHook`
(PutLifecycleHook) change the group; :class:`RotateInstance` replaces one instance
(TerminateInstanceInAutoScalingGroup without decrementing the desired capacity, then the
replacement's stacks, health gate and launch completion, see the executor); :class:`CompleteLaunch`
lets a new instance held by the launch hook go in service (CONTINUE) once its stacks run, or
rejects one launched on another template version (ABANDON). Each is safe to repeat: setting what
is set, completing a launch that is no longer waiting, terminating an instance already gone change
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reconciler.core.actions import Action
from reconciler.core.rollout_actions import RolloutStep, TargetGroupRef

CONTINUE = "CONTINUE"
ABANDON = "ABANDON"


@dataclass(frozen=True, kw_only=True)
class SetLaunchTemplate(RolloutStep):
    """UpdateAutoScalingGroup: the group launches ``template`` ``version`` from now on."""

    kind: ClassVar[str] = "set_launch_template"
    terraform: ClassVar[tuple[str, ...]] = ("update",)
    symbol: ClassVar[str] = "~"
    group: str
    template: str
    version: str
    previous: str  # the group's template as it was ("popcon-prod-lt 1", "$Latest"...)


@dataclass(frozen=True, kw_only=True)
class PutLaunchHook(RolloutStep):
    """PutLifecycleHook: the launch hook that holds a new instance in Pending:Wait (DefaultResult
    ABANDON: an instance nobody converged is never put in service)."""

    kind: ClassVar[str] = "put_launch_hook"
    terraform: ClassVar[tuple[str, ...]] = ("create",)
    symbol: ClassVar[str] = "+"
    group: str
    hook: str
    timeout: float


@dataclass(frozen=True, kw_only=True)
class RotateInstance(RolloutStep):
    """Terminate ``instance`` (out of the load balancer already) without decrementing the desired
    capacity, wait for the group's replacement, converge every stack on it, pass the health gate and
    put it in service (CompleteLifecycleAction CONTINUE under ``hook``, else register it), wait until
    the target groups report it healthy."""

    kind: ClassVar[str] = "rotate_instance"
    terraform: ClassVar[tuple[str, ...]] = ("delete", "create")
    symbol: ClassVar[str] = "-/+"
    group: str
    instance: str
    template: str
    before: str  # the version it runs ("1"; "" when it has none)
    after: str  # the version its replacement runs
    hook: str | None  # the launch hook that holds the replacement, None without one
    launch_timeout: float  # how long to wait for the replacement to be launched


@dataclass(frozen=True, kw_only=True)
class CompleteLaunch(RolloutStep):
    """CompleteLifecycleAction for ``instance`` held in Pending:Wait by ``hook``: CONTINUE (it goes
    in service; wait until ``target_groups`` report it healthy) or ABANDON (the group terminates it
    and launches another)."""

    kind: ClassVar[str] = "complete_launch"
    terraform: ClassVar[tuple[str, ...]] = ("update",)
    symbol: ClassVar[str] = ">"
    group: str
    instance: str
    hook: str
    result: str  # CONTINUE | ABANDON
    target_groups: tuple[TargetGroupRef, ...] = ()

    @property
    def actions(self) -> tuple[str, ...]:
        return ("delete",) if self.result == ABANDON else ("update",)


ROTATION_TYPES: tuple[type[Action], ...] = (SetLaunchTemplate, PutLaunchHook, RotateInstance, CompleteLaunch)
