"""The instance refresh step with the refresh itself under botocore's Stubber (moto has none) and the
rest real: a private moto behind the sandbox's AWS front (tests/sandbox/asgkit.py), which holds a new
instance in Pending:Wait with the launch hook and puts it in service at CompleteLifecycleAction, as
Auto Scaling does. The test does what AWS's refresh would (terminate an old instance, the group
launches its replacement); the step finds the replacement in Pending:Wait through the front, converges
it (the composition root's part, recorded here) and completes it: it ends InService and registered in
the target group. Nothing of the shared sandbox fleet is touched: no fleet lock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleet.refreshkit import PREFS, FakeTime, refresh, starts, stubbed
from fleet.test_instance_refresh_steps import refresh_action
from reconciler.core.rotation import LaunchTemplateRef
from reconciler.drivers.aws.fleet import FleetClients, FleetMemo, FleetReader, FleetWriter
from reconciler.drivers.aws.instance_refresh import InstanceRefresher, start_request
from reconciler.executor.instance_refresh import RefreshDrivers, run_refresh
from reconciler.executor.rollout import FleetDrivers
from tests.sandbox.asgkit import Group, until

pytestmark = pytest.mark.world

HOOK = "reconciler-launch"


def test_the_replacement_held_by_the_hook_is_converged_then_put_in_service(g: Group) -> None:
    g.hook(HOOK)
    before = set(g.states())
    old = sorted(before)[0]
    g.terminate(old)  # what the refresh does first (MaxHealthyPercentage 100: terminate, then launch)
    new = g.new_one(before - {old})
    until("the replacement held by the hook", lambda: g.states().get(new) == "Pending:Wait")
    assert new not in g.registered()

    real = InstanceRefresher(g.aws("autoscaling"))
    template = LaunchTemplateRef(g.template, "1")
    action = replace(refresh_action(), group=g.name, template=template)
    converged: list[str] = []

    def converge(fleet: str, instance: str) -> str:
        converged.append(instance)
        return "stack popcon up"

    time = FakeTime()
    with stubbed() as (client, s):
        group_params = {"AutoScalingGroupName": g.name}
        s.add_response("describe_instance_refreshes", {"InstanceRefreshes": []}, group_params)
        starts(s, start_request(g.name, template, PREFS), "r-1")
        for status, percent in (("InProgress", 50), ("Successful", 100)):
            item = refresh(status, percent=percent, to_update=0, template=template)
            item["AutoScalingGroupName"] = g.name
            s.add_response("describe_instance_refreshes", {"InstanceRefreshes": [item]},
                           {**group_params, "InstanceRefreshIds": ["r-1"]})  # fmt: skip
        clients = FleetClients(g.aws("autoscaling"), g.aws("ec2"), g.aws("elbv2"), g.aws("cloudwatch"))
        fleet = FleetDrivers(
            reader=FleetReader(clients, memo=FleetMemo()),
            writer=FleetWriter(clients),
            probe=lambda _url, _timeout: pytest.fail("no health check in this rollout"),
            sleep=time.sleep,
            clock=time.clock,
            refresh=RefreshDrivers(
                refresher=InstanceRefresher(client, sleep=time.sleep, clock=time.clock),
                waiting=real.waiting,
                complete=lambda grp, hook, instance, ok: real.complete_launch(grp, hook, instance, ok=ok),
                converge=converge,
            ),
        )
        message = run_refresh(fleet, action)
    assert converged == [new]
    assert f"converged and completed: {new}" in message
    until("the replacement in service", lambda: g.states().get(new) == "InService")
    until("the replacement registered", lambda: new in g.registered())
    assert old not in g.states()
