"""Marking an instance unhealthy against moto (server mode, the sandbox's, a group of the test's own): one
SetInstanceHealth Unhealthy per mark, the group then reports it Unhealthy and the next observation no
longer counts it as a host; the step through the executor's rollout runner; read-only clients refuse it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.mototfleet import MotoFleet, client, moto_fleet
from fleet.test_fleet_observe import desired_of, fleet_text, reader
from reconciler.core.errors import ReconcilerError
from reconciler.core.instance_health import InstanceTrouble, Trouble
from reconciler.core.plan import Unit
from reconciler.core.report import Status
from reconciler.drivers.aws.clients import CallCounter
from reconciler.drivers.aws.fleet import FleetClients, FleetReader, FleetWriter
from reconciler.drivers.aws.instance_health import InstanceHealthWriter
from reconciler.drivers.probe import ProbeResult
from reconciler.drivers.readonly import read_only_boto3
from reconciler.executor.rollout import FleetDrivers, run_rollout_unit
from reconciler.observe.fleet import observe_fleets
from reconciler.planner.unhealthy import mark_unhealthy, replace_unit_id
from reconciler.sandbox.lifecycle import SandboxInfo


@pytest.fixture
def fleet(sandbox: SandboxInfo) -> Iterator[MotoFleet]:
    with moto_fleet(sandbox.moto_url, alarms=0) as made:
        yield made


def clients(moto_url: str, counter: CallCounter, *, read_only: bool = False) -> FleetClients:
    made = [client(s, moto_url) for s in ("autoscaling", "ec2", "elbv2", "cloudwatch")]
    counter.attach(*made)
    return FleetClients(*(read_only_boto3(c) if read_only else c for c in made))


def health(fleet: MotoFleet) -> dict[str, str]:
    groups = fleet.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[fleet.group])
    return {i["InstanceId"]: i["HealthStatus"] for i in groups["AutoScalingGroups"][0]["Instances"]}


def test_one_set_instance_health_marks_it_and_it_is_no_longer_a_host(tmp_path: Path, fleet: MotoFleet) -> None:
    first, second = fleet.instance_ids()
    counter = CallCounter()
    InstanceHealthWriter(clients(fleet.moto_url, counter)).mark_unhealthy(first)
    assert counter.calls == {("autoscaling", "SetInstanceHealth"): 1}
    assert health(fleet) == {first: "Unhealthy", second: "Healthy"}
    observed = observe_fleets(reader(fleet.moto_url, CallCounter()), desired_of(tmp_path, fleet_text(fleet)))["web"]
    assert [i.id for i in observed.serving] == [second]
    InstanceHealthWriter(clients(fleet.moto_url, counter)).mark_unhealthy(first)  # safe to repeat
    assert health(fleet)[first] == "Unhealthy"


def test_the_step_runs_through_the_rollout_runner(fleet: MotoFleet) -> None:
    first, _ = fleet.instance_ids()
    counter = CallCounter()
    made = clients(fleet.moto_url, counter)
    drivers = FleetDrivers(reader=FleetReader(made), writer=FleetWriter(made),
                           probe=lambda _u, _t: ProbeResult(True, "ok"), health=InstanceHealthWriter(made))  # fmt: skip
    trouble = InstanceTrouble("web", first, Trouble.ENGINE_UNREACHABLE, "connection refused", "ssh://x", 3)
    unit = Unit(id=replace_unit_id("web"), actions=(mark_unhealthy(trouble, fleet.group),))
    recorded: list[tuple[str, Status, str]] = []
    status = run_rollout_unit(unit, drivers, lambda a, s, m: recorded.append((a.address, s, m)))
    assert status == "done"
    assert recorded == [(f"instance:{first}/replace", "done",
                         f"marked unhealthy (EngineUnreachable); group {fleet.group} replaces it")]  # fmt: skip
    assert health(fleet)[first] == "Unhealthy"


def test_read_only_clients_refuse_it(fleet: MotoFleet) -> None:
    first, _ = fleet.instance_ids()
    with pytest.raises(ReconcilerError):
        InstanceHealthWriter(clients(fleet.moto_url, CallCounter(), read_only=True)).mark_unhealthy(first)
    assert set(health(fleet).values()) == {"Healthy"}
