"""The reconciler's mark against the sandbox as Auto Scaling (a private moto behind an AWS front of the test's
own, asgkit.py; the shared sandbox untouched, no fleet lock): InstanceHealthWriter's SetInstanceHealth gets
the instance replaced at once, even one within the group's health check grace period (ShouldRespectGracePeriod
false: an instance found broken is not one still booting), and the replacement joins the target group."""

from __future__ import annotations

import pytest

from reconciler.drivers.aws.fleet import FleetClients
from reconciler.drivers.aws.instance_health import InstanceHealthWriter
from tests.sandbox.asgkit import Group, client, until

pytestmark = pytest.mark.world


def writer(url: str) -> InstanceHealthWriter:
    return InstanceHealthWriter(FleetClients(*(client(s, url) for s in ("autoscaling", "ec2", "elbv2", "cloudwatch"))))


def test_a_marked_instance_is_replaced_even_within_the_grace_period(g: Group) -> None:
    asg = g.aws("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName=g.name, HealthCheckGracePeriod=3600)
    seeded = set(g.states())
    asg.set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    young = g.new_one(seeded)  # in service for less than the grace period
    until("the new instance registered", lambda: young in g.registered())
    writer(g.url).mark_unhealthy(young)
    until(f"{young} replaced", lambda: young not in g.states())
    new = g.new_one(seeded)
    until("the replacement registered", lambda: g.registered() == seeded | {new})
    assert g.describe()["DesiredCapacity"] == 3
