"""A failed instance refresh engages the loop's rollback, as any failed rollout does (the tick tests'
fake source and world, the real SQLite store, and the real executor over a real Auto Scaling client
under botocore's Stubber): the refresh fails with AWS's status reason, the tick is partial (exit 1 for
``apply``), the last applied revision's plan runs again with its refresh watching no alarm and
baking not at all, and the status names AWS's reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fleet.refreshkit import GROUP, PREFS, describe, group, refresh, starts, stubbed
from fleet.test_instance_refresh_steps import OLD, refresh_action
from fleet.test_instance_refresh_steps import Rig as StepRig

from loop import test_tick
from loop.kit import A, B, plan
from loop.test_tick import FakeWorld, Rig
from reconciler.app.reconcile import Outcome
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.plan import Plan, Unit
from reconciler.core.report import ApplyReport
from reconciler.drivers.aws.instance_refresh import start_request
from reconciler.executor import Drivers, execute
from reconciler.executor.run import HostDrivers
from reconciler.loop.rollback import rollout_failure
from reconciler.state import ConditionStatus, ConditionType, Reason, Result

rig = test_tick.rig

REASON = "Instance i-new1 failed to pass its health checks"


def refresh_plan(action: InstanceRefresh) -> Plan:
    return Plan(environment="dev", units=(Unit(id="rollout:web/refresh", actions=(action,)),))


def no_host(name: str) -> HostDrivers:
    raise AssertionError(f"no host is touched: {name}")


def test_a_failed_refresh_rolls_back_to_the_last_applied_revision(rig: Callable[..., Rig], tmp_path: Path) -> None:
    bad = refresh_plan(refresh_action())
    back = refresh_plan(replace(refresh_action(), template=OLD, before=("2",)))
    with stubbed() as (client, s):
        # the rollout: a refresh towards version 2 that AWS fails
        describe(s, refresh("Successful", refresh_id="r-0", template=OLD, percent=100, to_update=0))
        starts(s, start_request(GROUP, refresh_action().template, PREFS), "r-1")
        group(s)
        describe(s, refresh("Failed", refresh_id="r-1", percent=50, to_update=1, reason=REASON), ids=("r-1",))
        # the rollback: version 1 again, no alarm watched (one may still be in ALARM), no bake
        describe(s, refresh("Failed", refresh_id="r-1", percent=50, reason=REASON))
        starts(s, start_request(GROUP, OLD, replace(PREFS, alarms=(), bake_time=0)), "r-2")
        group(s)
        describe(s, refresh("Successful", refresh_id="r-2", template=OLD, percent=100, to_update=0), ids=("r-2",))
        steps = StepRig(client)
        reports: list[ApplyReport] = []

        def outcome(p: Plan) -> ApplyReport:
            if not any(isinstance(a, InstanceRefresh) for a in p.actions):
                return test_tick.done(p)
            drivers = Drivers(ssm=None, hosts=no_host, fleet=steps.fleet)
            report = execute(p, drivers, state_dir=tmp_path / "run")
            reports.append(report)
            return report

        r = rig(FakeWorld(found=[plan("/p/X"), plan()], outcome=outcome))
        assert r.tick().result is Result.APPLIED  # A applied
        r.source.head = B
        r.source.known[B.sha] = B
        r.world.found = [bad, back, bad]
        result = r.tick()
    assert result.result is Result.FAILED and result.cause == "RolledBack"  # its one action failed
    failed, rolled_back = reports
    assert Outcome(bad, failed).exit_code == 1
    (failure,) = failed.by_status("failed")
    assert failure.address == "fleet:web/instance-refresh"
    assert f"instance refresh r-1 failed: {REASON}" in failure.message
    cause = rollout_failure(bad, failed)
    assert cause is not None and REASON in cause
    assert rolled_back.ok
    (way_back,) = r.world.applied[-1].actions
    assert isinstance(way_back, InstanceRefresh) and way_back.preferences.alarms == ()
    ready = r.condition(ConditionType.READY)
    assert ready[:2] == (ConditionStatus.FALSE, Reason.ROLLED_BACK)
    assert ready[2].startswith(f"rolled back to {A.sha[:12]} after: fleet:web/instance-refresh: ")
    assert REASON in ready[2]
    history = r.history()
    assert history[0].revision == A and history[0].result is Result.APPLIED  # the rollback, newest first
    assert history[1].revision == B and REASON in (history[1].error or "")
