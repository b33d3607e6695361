"""The rollout's steps against moto (server mode) and a real HTTP server on loopback: leaving and joining
a target group, the health gate, the alarms and the bake; a failure stops the unit and names the instance,
the URL or the alarm. Clock and sleep are real but short (moto reports target states at once)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from fleet.mototfleet import MotoFleet, client, moto_fleet
from reconciler.core.actions import Change
from reconciler.core.errors import ReconcilerError
from reconciler.core.plan import Unit
from reconciler.core.report import Status
from reconciler.core.rollout_actions import (
    Bake,
    CheckAlarms,
    HealthGate,
    JoinTargetGroups,
    LeaveTargetGroups,
    TargetGroupRef,
)
from reconciler.drivers.aws.fleet import FleetClients, FleetReader, FleetWriter
from reconciler.drivers.probe import probe, probe_session
from reconciler.executor.rollout import (
    FleetDrivers,
    RolloutFailed,
    bake,
    check_alarms,
    gate,
    join,
    leave,
    pace,
    run_rollout_unit,
)
from reconciler.sandbox.lifecycle import SandboxInfo


@pytest.fixture
def fleet(sandbox: SandboxInfo) -> Iterator[MotoFleet]:
    with moto_fleet(sandbox.moto_url) as made:
        yield made


def drivers(fleet: MotoFleet, **kw: float) -> FleetDrivers:
    made = FleetClients(*(client(s, fleet.moto_url) for s in ("autoscaling", "ec2", "elbv2", "cloudwatch")))
    session = probe_session()
    options = {"settle": 0.2, "poll": 0.05, "join_timeout": 2.0, **kw}
    return FleetDrivers(
        reader=FleetReader(made), writer=FleetWriter(made), probe=lambda url, t: probe(session, url, t), **options
    )


def change(address: str) -> Change:
    return Change(address, {"state": "a"}, {"state": "b"})


def targets(fleet: MotoFleet) -> dict[str, str]:
    found = fleet.aws("elbv2").describe_target_health(TargetGroupArn=fleet.target_group_arn)
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found["TargetHealthDescriptions"]}


def test_leave_then_join(fleet: MotoFleet) -> None:
    run = drivers(fleet)
    ref = TargetGroupRef(fleet.target_group_arn, fleet.target_group_name, 3000)
    first = fleet.instance_ids()[0]
    fleet.aws("elbv2").register_targets(
        TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": i, "Port": 3000} for i in fleet.instance_ids()]
    )
    message = leave(run, LeaveTargetGroups(change=change(f"instance:{first}/leave"), reason="r", fleet="web", batch=1,
                                           instance=first, target_groups=(ref,), drain_timeout=5.0))  # fmt: skip
    assert message.startswith(f"left {fleet.target_group_name}; drained in")
    assert targets(fleet).get(first, "absent") in ("absent", "unused")
    message = join(run, JoinTargetGroups(change=change(f"instance:{first}/join"), reason="r", fleet="web", batch=1,
                                         instance=first, target_groups=(ref,)))  # fmt: skip
    assert message.startswith(f"joined {fleet.target_group_name}; healthy after")
    assert targets(fleet)[first] == "healthy"


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"status": 200})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/health", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def health_gate(url: str, attempts: int = 3) -> HealthGate:
    return HealthGate(change=change("instance:i-0123456789abcdef0/health"), reason="r", fleet="web", batch=1,
                      instance="i-0123456789abcdef0", url=url, service="frontend", attempts=attempts, interval=0.05,
                      timeout=1.0)  # fmt: skip


def test_the_health_gate(fleet: MotoFleet, server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    run = drivers(fleet)
    assert gate(run, health_gate(url)) == f"{url} answered HTTP 200 (try 1 of 3)"
    handler.status = 500
    with pytest.raises(RolloutFailed) as failed:
        gate(run, health_gate(url))
    assert str(failed.value) == (
        f"instance i-0123456789abcdef0: health check failed: {url} answered HTTP 500 after 3 tries 50ms apart"
    )
    with pytest.raises(RolloutFailed) as refused:
        gate(run, health_gate("http://127.0.0.1:9/health", attempts=2))
    assert "answered connection refused after 2 tries" in str(refused.value)


def test_alarms_and_bake(fleet: MotoFleet) -> None:
    run = drivers(fleet)
    cw = fleet.aws("cloudwatch")
    check = CheckAlarms(
        change=change("fleet:web/alarms/1"), reason="r", fleet="web", batch=1, alarms=tuple(fleet.alarms)
    )
    assert check_alarms(run, check) == "none of 2 alarm(s) in ALARM"
    cw.set_alarm_state(AlarmName=fleet.alarms[1], StateValue="ALARM", StateReason="5xx > 10 for 1 minute")
    with pytest.raises(RolloutFailed) as failed:
        check_alarms(run, check)
    assert str(failed.value) == f"fleet web: alarm in ALARM after batch 1: {fleet.alarms[1]} (5xx > 10 for 1 minute)"
    # an alarm that was already in ALARM before the rollout is ignored
    ignoring = CheckAlarms(change=change("fleet:web/alarms/1"), reason="r", fleet="web", batch=1,
                           alarms=tuple(fleet.alarms), ignored=(fleet.alarms[1],))  # fmt: skip
    assert check_alarms(run, ignoring) == "none of 2 alarm(s) in ALARM"
    baking = Bake(change=change("fleet:web/bake"), reason="r", fleet="web", batch=0, alarms=tuple(fleet.alarms),
                  seconds=0.3)  # fmt: skip
    with pytest.raises(RolloutFailed, match="alarm in ALARM during the bake"):
        bake(run, baking)
    cw.set_alarm_state(AlarmName=fleet.alarms[1], StateValue="OK", StateReason="back")
    assert bake(run, baking) == "no alarm in 300ms"


def test_a_failed_step_stops_the_unit(fleet: MotoFleet, server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.status = 503
    first = fleet.instance_ids()[0]
    # moto registers a group's instances in its target groups at once: take this one out first
    fleet.aws("elbv2").deregister_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": first}])
    ref = TargetGroupRef(fleet.target_group_arn, fleet.target_group_name, 3000)
    unit = Unit(id="rollout:web/1/join", actions=(
        health_gate(url, attempts=2),
        JoinTargetGroups(change=change(f"instance:{first}/join"), reason="r", fleet="web", batch=1, instance=first,
                         target_groups=(ref,)),
    ))  # fmt: skip
    recorded: list[tuple[str, Status, str]] = []
    status = run_rollout_unit(unit, drivers(fleet), lambda a, s, m: recorded.append((a.address, s, m)))
    assert status == "failed"
    assert [(a, s) for a, s, _ in recorded] == [
        ("instance:i-0123456789abcdef0/health", "failed"),
        (f"instance:{first}/join", "skipped"),
    ]
    assert first not in targets(fleet)  # never registered after a failed gate


def test_without_fleet_clients_a_step_is_refused() -> None:
    recorded: list[str] = []
    unit = Unit(id="rollout:web/1/join", actions=(health_gate("http://127.0.0.1:9/"),))
    assert run_rollout_unit(unit, None, lambda a, s, m: recorded.append(m)) == "failed"
    assert "no fleet clients" in recorded[0]
    assert issubclass(RolloutFailed, ReconcilerError)


def test_an_instance_that_left_the_group_is_skipped_not_a_failure(
    fleet: MotoFleet, server: tuple[str, type[_Handler]]
) -> None:
    url, _handler = server
    gone, alive = fleet.instance_ids()
    fleet.aws("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=gone, ShouldDecrementDesiredCapacity=True
    )
    made = drivers(fleet)
    run = FleetDrivers(**{**made.__dict__, "gone": made.reader.instance_gone})
    assert run.gone(gone) and not run.gone(alive)
    dead_gate = HealthGate(change=change(f"instance:{gone}/health"), reason="r", fleet="web", batch=1,
                           instance=gone, url="http://127.0.0.1:9/health", service="frontend", attempts=1,
                           interval=0.0, timeout=1.0)  # fmt: skip
    ref = TargetGroupRef(fleet.target_group_arn, fleet.target_group_name, 3000)
    dead_join = JoinTargetGroups(change=change(f"instance:{gone}/join"), reason="r", fleet="web", batch=1,
                                 instance=gone, target_groups=(ref,))  # fmt: skip
    live_gate = HealthGate(change=change(f"instance:{alive}/health"), reason="r", fleet="web", batch=1, instance=alive,
                           url=url, service="frontend", attempts=1, interval=0.0, timeout=1.0)  # fmt: skip
    recorded: list[tuple[str, Status, str]] = []
    skipped: list[tuple[str, str]] = []
    unit = Unit(id="rollout:web/1/join", actions=(dead_gate, live_gate, dead_join))
    status = run_rollout_unit(unit, run, lambda a, s, m: recorded.append((a.address, s, m)),
                              gone=lambda a, m: skipped.append((a.address, m)))  # fmt: skip
    assert status == "done"
    assert [(a, s) for a, s, _ in recorded] == [(f"instance:{alive}/health", "done")]
    assert [a for a, _ in skipped] == [f"instance:{gone}/health", f"instance:{gone}/join"]  # told apart: no failure
    assert all("left its Auto Scaling group during the rollout" in m for _, m in skipped)


def test_leaving_when_already_out_is_fine(fleet: MotoFleet) -> None:
    run = drivers(fleet)
    ref = TargetGroupRef(fleet.target_group_arn, fleet.target_group_name, 3000)
    first = fleet.instance_ids()[0]
    fleet.aws("elbv2").deregister_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": first}])
    step = LeaveTargetGroups(change=change(f"instance:{first}/leave"), reason="r", fleet="web", batch=1,
                             instance=first, target_groups=(ref,), drain_timeout=1.0)  # fmt: skip
    assert leave(run, step).startswith(f"left {fleet.target_group_name}")  # moto's InvalidTarget is no failure


def test_the_instances_of_a_batch_leave_and_join_at_once(fleet: MotoFleet) -> None:
    """Two instances of one batch leave together: both deregistered before either has drained (a batch
    of two drains once, not twice); and join together."""
    run = drivers(fleet, settle=0.5)
    ref = TargetGroupRef(fleet.target_group_arn, fleet.target_group_name, 3000)
    ids = fleet.instance_ids()
    fleet.aws("elbv2").register_targets(
        TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": i, "Port": 3000} for i in ids]
    )
    leaves = tuple(LeaveTargetGroups(change=change(f"instance:{i}/leave"), reason="r", fleet="web", batch=1, instance=i,
                                     target_groups=(ref,), drain_timeout=5.0) for i in ids)  # fmt: skip
    joins = tuple(JoinTargetGroups(change=change(f"instance:{i}/join"), reason="r", fleet="web", batch=1, instance=i,
                                   target_groups=(ref,)) for i in ids)  # fmt: skip
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def note(kind: str, address: str) -> None:
        with lock:
            events.append((kind, address))

    unit = Unit(id="rollout:web/1/leave", actions=leaves)
    assert (
        run_rollout_unit(unit, run, lambda a, s, m: note(s, a.address), lambda a, d: note("started", a.address))
        == "done"
    )
    assert [k for k, _ in events] == ["started", "started", "done", "done"]
    assert all(targets(fleet).get(i, "absent") in ("absent", "unused") for i in ids)
    events.clear()
    unit = Unit(id="rollout:web/1/join", actions=joins)
    assert (
        run_rollout_unit(unit, run, lambda a, s, m: note(s, a.address), lambda a, d: note("started", a.address))
        == "done"
    )
    assert sorted(k for k, _ in events) == ["done", "done", "started", "started"]
    assert {targets(fleet)[i] for i in ids} == {"healthy"}


def test_a_joining_target_is_looked_at_often_at_first() -> None:
    assert pace(1.0, 0.0) == 0.2  # a target group in the sandbox reports healthy within seconds
    assert pace(1.0, 5.0) == 0.5
    assert pace(1.0, 150.0) == 1.0  # AWS's defaults: minutes, looked at every second
    assert pace(0.05, 0.0) == 0.05  # never slower than asked
