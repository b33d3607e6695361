"""The ``instance_refresh`` step: start AWS's instance refresh (or follow the one in progress), converge
each new instance while the launch hook holds it, and poll until the refresh ends. Does I/O (through
:class:`RefreshDrivers`).

Instance refresh has no waiter (Terraform returns as soon as it starts, terraform-provider-aws
#42355); this step waits, reporting the status, percentage complete, instances to update and status
reason each time they change, within the action's ``timeout`` (past it the refresh is cancelled and
the step fails). A refresh already in progress towards the same launch template and version (a run
killed with kill -9 mid-refresh left it) is followed, not started twice; one towards another
version is cancelled first (CancelInstanceRefresh), then ours starts. While polling, every instance
of the group in ``Pending:Wait`` (held by the launch hook) has its stacks converged
(:attr:`RefreshDrivers.converge`) and, when the rollout has a health check, passes the health gate
on its own address; then its lifecycle action is completed with CONTINUE (AWS puts it in service and
the group registers it in its target groups). The composition root's converge
(:func:`reconciler.planner.launch.plan_new_instance`, run by the world) does all three itself, as for
a rotation's replacement (``completes``). One that cannot be converged is completed with
ABANDON (AWS terminates it), the refresh is cancelled and the step fails: the loop's rollback
follows as for any failed rollout. Outcomes: ``Successful`` is done; ``Failed``, ``Cancelled``,
``RollbackSuccessful`` (AWS's AutoRollback put the old template back) and ``RollbackFailed`` fail
the step with AWS's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.core.errors import ReconcilerError
from reconciler.core.fleet import format_duration
from reconciler.core.instance_refresh import InstanceRefresh, RefreshState
from reconciler.core.rollout_actions import HealthGate
from reconciler.drivers.aws.instance_refresh import InstanceRefresher, RefreshInProgress

if TYPE_CHECKING:
    from reconciler.executor.rollout import FleetDrivers  # which lists this step among its own

POLL = 15.0  # seconds between two DescribeInstanceRefreshes (a replacement takes minutes)
FIRST_POLL = 2.0  # the first looks, while AWS moves from Pending to InProgress


class RefreshFailed(ReconcilerError):
    """The refresh did not succeed (failed, cancelled, rolled back, timed out, a new instance that
    could not be converged)."""


@dataclass(frozen=True)
class RefreshDrivers:
    """What the step needs beyond the rollout's drivers."""

    refresher: InstanceRefresher  # StartInstanceRefresh, DescribeInstanceRefreshes, CancelInstanceRefresh
    waiting: Callable[[str], list[str]]  # group -> its instances in Pending:Wait
    complete: Callable[[str, str, str, bool], None]  # (group, hook, instance, ok): CompleteLifecycleAction
    converge: Callable[[str, str], str]  # (fleet, instance) -> its stacks converged (raises when they cannot be)
    poll: float = POLL
    # the converge also runs the health gate and completes the lifecycle action (CONTINUE), as the
    # composition root's does (reconciler.planner.launch: the same units a rotation's replacement gets)
    completes: bool = False


def refresh_drivers(
    refresher: InstanceRefresher, converge: Callable[[str, str], str], *, completes: bool = False
) -> RefreshDrivers:
    """The step's drivers on one Auto Scaling client: the refresh calls, the instances in Pending:Wait
    and CompleteLifecycleAction through ``refresher``."""
    return RefreshDrivers(
        refresher=refresher,
        waiting=refresher.waiting,
        complete=lambda group, hook, instance, ok: refresher.complete_launch(group, hook, instance, ok=ok),
        converge=converge,
        completes=completes,
    )


def _pace(poll: float, waited: float) -> float:
    return max(min(poll, FIRST_POLL), min(poll, waited / 4))


class _Follow:
    """One refresh followed to its end."""

    def __init__(self, fleet: FleetDrivers, drivers: RefreshDrivers, action: InstanceRefresh,
                 report: Callable[[str], None]) -> None:  # fmt: skip
        self.fleet, self.drivers, self.action, self.report = fleet, drivers, action, report
        self.completed: list[str] = []
        self.notes: list[str] = []
        self.last = ""

    @property
    def group(self) -> str:
        return self.action.group

    def begin(self) -> str:
        """The refresh to follow: the one in progress towards our template, or a new one."""
        refresher, action = self.drivers.refresher, self.action
        active = refresher.active(self.group)
        if active is not None and active.template == action.template:
            self.notes.append(f"followed instance refresh {active.id}, in progress since {active.started or '?'}")
            return active.id
        if active is not None:
            self.cancel_other(active)
        try:
            refresh_id = refresher.start(self.group, action.template, action.preferences)
        except RefreshInProgress:  # started meanwhile (another run): follow it when it is ours
            active = refresher.active(self.group)
            if active is None or active.template != action.template:
                raise
            self.notes.append(f"followed instance refresh {active.id}, started meanwhile")
            return active.id
        self.report(f"instance refresh {refresh_id} started: {action.summary()}")
        return refresh_id

    def cancel_other(self, active: RefreshState) -> None:
        """Cancel a refresh towards another template and wait until it has stopped."""
        other = str(active.template) if active.template else "another configuration"
        self.report(f"cancelling instance refresh {active.id} (towards {other})")
        self.drivers.refresher.cancel(self.group)
        clock, started = self.fleet.clock, self.fleet.clock()
        while (state := self.drivers.refresher.refresh(self.group, active.id)).active:
            if clock() - started > self.action.timeout:
                why = f"instance refresh {active.id} towards {other} did not stop: {state.progress()}"
                raise RefreshFailed(f"autoscaling group {self.group}", why)
            self.fleet.sleep(_pace(self.drivers.poll, clock() - started))
        self.notes.append(f"cancelled instance refresh {active.id} towards {other}")

    def converge_waiting(self) -> None:
        """Converge each instance the launch hook holds, then complete its lifecycle action."""
        for instance in self.drivers.waiting(self.group):
            if instance in self.completed:
                continue
            self.report(f"converging new instance {instance} (held in Pending:Wait)")
            try:
                message = self.drivers.converge(self.action.fleet, instance)
                gate = "" if self.drivers.completes else self.gate(instance)
            except ReconcilerError as exc:
                self.drivers.complete(self.group, self.action.launch_hook, instance, False)
                raise RefreshFailed(f"instance {instance}", f"new instance could not be converged "
                                    f"(abandoned: AWS terminates it): {exc}") from None  # fmt: skip
            if not self.drivers.completes:
                self.drivers.complete(self.group, self.action.launch_hook, instance, True)
            self.completed.append(instance)
            self.report(f"new instance {instance} converged ({message}{gate}): lifecycle action completed")

    def gate(self, instance: str) -> str:
        """The rollout's health check on the new instance's own address ("" without one)."""
        check = self.action.health_check
        if check is None:
            return ""
        from reconciler.executor.rollout import gate  # the rollout steps' gate, the same tries

        address = self.fleet.reader.instances([instance]).get(instance, {}).get("PrivateIpAddress", "")
        if not address:
            raise RefreshFailed(f"instance {instance}", "has no private address to check")
        url = f"http://{address}:{check.port}{check.path}"
        step = HealthGate(change=self.action.change, reason="", fleet=self.action.fleet, batch=0, instance=instance,
                          url=url, service=check.service, attempts=check.attempts, interval=check.interval,
                          timeout=check.timeout)  # fmt: skip
        return "; " + gate(self.fleet, step)

    def follow(self, refresh_id: str) -> RefreshState:
        clock, started = self.fleet.clock, self.fleet.clock()
        deadline = started + self.action.timeout
        while True:
            self.converge_waiting()
            state = self.drivers.refresher.refresh(self.group, refresh_id)
            progress = state.progress()
            if progress != self.last:
                self.last = progress
                self.report(f"instance refresh {refresh_id}: {progress}")
            if not state.active:
                return state
            if clock() >= deadline:
                self.drivers.refresher.cancel(self.group)
                raise RefreshFailed(f"autoscaling group {self.group}",
                                    f"instance refresh {refresh_id} still {progress} after "
                                    f"{format_duration(self.action.timeout)}: cancelled")  # fmt: skip
            self.fleet.sleep(min(_pace(self.drivers.poll, clock() - started), max(0.0, deadline - clock())))

    def cancel_after(self, exc: ReconcilerError) -> None:
        """After a failure of ours mid-refresh: stop AWS replacing more instances (never raises)."""
        try:
            self.drivers.refresher.cancel(self.group)
        except ReconcilerError:
            self.notes.append(f"could not cancel the refresh after: {exc}")


def run_refresh(fleet: FleetDrivers, action: InstanceRefresh, report: Callable[[str], None] = lambda _m: None) -> str:
    """Carry out ``action`` (see the module docstring); the outcome, or :class:`RefreshFailed`."""
    drivers = fleet.refresh
    if drivers is None:
        raise ReconcilerError(f"autoscaling group {action.group}: no instance refresh clients")
    follow = _Follow(fleet, drivers, action, report)
    refresh_id = follow.begin()
    try:
        state = follow.follow(refresh_id)
    except RefreshFailed as exc:
        follow.cancel_after(exc)
        raise
    failure = state.failure()
    if failure is not None:
        raise RefreshFailed(f"autoscaling group {action.group}", failure)
    done = ", ".join(follow.completed) or "none (no new instance waited in Pending:Wait)"
    notes = "; ".join(follow.notes)
    return (f"instance refresh {refresh_id} successful: launch template {action.template}; "
            f"converged and completed: {done}" + (f"; {notes}" if notes else ""))  # fmt: skip
