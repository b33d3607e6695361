"""The ``instance_refresh`` step against botocore's Stubber on a real Auto Scaling client (moto 5.2.5
has neither instance refresh nor lifecycle actions): the polling sequence with the new instances
converged and completed while the launch hook holds them, a refresh that fails, is cancelled or is
rolled back by AWS, one already in progress (followed, never started twice), one towards another
version (cancelled first), throttling, the bounded wait, a new instance that cannot be converged,
and the health gate on a new instance's address (a real HTTP server on loopback)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from fleet.refreshkit import (
    GROUP,
    PREFS,
    TEMPLATE,
    FakeTime,
    cancels,
    completes,
    describe,
    group,
    refresh,
    starts,
    stubbed,
    throttle,
)
from reconciler.core.actions import Change
from reconciler.core.fleet import HealthCheckSpec
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.rotation import LaunchTemplateRef
from reconciler.drivers.aws.fleet import FleetClients, FleetMemo, FleetReader, FleetWriter
from reconciler.drivers.aws.instance_refresh import InstanceRefresher, start_request
from reconciler.drivers.probe import probe, probe_session
from reconciler.executor.instance_refresh import RefreshFailed, refresh_drivers, run_refresh
from reconciler.executor.rollout import FleetDrivers

OLD = LaunchTemplateRef("popcon-prod", "1")
REQUEST = start_request(GROUP, TEMPLATE, PREFS)


def refresh_action(timeout: float = 3600.0, check: HealthCheckSpec | None = None) -> InstanceRefresh:
    return InstanceRefresh(
        change=Change("fleet:web/instance-refresh", {"launch_template": "popcon-prod 1"},
                      {"launch_template": "popcon-prod 2"}),
        reason="instance refresh", fleet="web", batch=0, group=GROUP, template=TEMPLATE, before=("1",),
        instances=("i-old1", "i-old2"), preferences=PREFS, launch_hook="reconciler-launch", health_check=check,
        timeout=timeout,
    )  # fmt: skip


class Rig:
    """The step's drivers over a stubbed Auto Scaling client; converging a new instance is recorded
    (it is the composition root's seam: the stacks of one instance) and fails for ``broken``."""

    def __init__(
        self, client: Any, ec2: Any = None, broken: frozenset[str] = frozenset(), *, completes: bool = False
    ) -> None:
        self.time = FakeTime()
        self.converged: list[str] = []
        self.reports: list[str] = []
        self.broken = broken
        refresher = InstanceRefresher(client, sleep=self.time.sleep, clock=self.time.clock)
        other = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        clients = FleetClients(client, ec2 or other, other, other)  # type: ignore[arg-type]
        self.session = probe_session()
        self.fleet = FleetDrivers(
            reader=FleetReader(clients, sleep=self.time.sleep, clock=self.time.clock, memo=FleetMemo()),
            writer=FleetWriter(clients, sleep=self.time.sleep, clock=self.time.clock),
            probe=lambda url, timeout: probe(self.session, url, timeout),
            sleep=self.time.sleep,
            clock=self.time.clock,
            refresh=refresh_drivers(refresher, self.converge, completes=completes),
        )

    def converge(self, fleet: str, instance: str) -> str:
        assert fleet == "web"
        self.converged.append(instance)
        if instance in self.broken:
            raise RefreshFailed(f"instance {instance}", "stack popcon: service frontend never became healthy")
        return "stack popcon up"

    def run(self, action: InstanceRefresh | None = None) -> str:
        try:
            return run_refresh(self.fleet, action or refresh_action(), self.reports.append)
        finally:
            self.session.close()


@pytest.fixture
def stub() -> Iterator[tuple[Any, Stubber]]:
    with stubbed() as pair:
        yield pair


def nothing_active(stub: Stubber) -> None:
    describe(stub, refresh("Successful", refresh_id="r-0", template=OLD, percent=100, to_update=0))


def test_pending_in_progress_successful_with_each_new_instance_converged(stub: tuple[Any, Stubber]) -> None:
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    group(s, ("i-old1", "InService"), ("i-old2", "InService"))
    describe(s, refresh("Pending"), ids=("r-1",))
    group(s, ("i-old2", "InService"), ("i-new1", "Pending:Wait"))
    completes(s, "i-new1")
    describe(s, refresh("InProgress", percent=50, to_update=1), ids=("r-1",))
    group(s, ("i-new1", "InService"), ("i-new2", "Pending:Wait"))
    completes(s, "i-new2")
    describe(s, refresh("Baking", percent=100, to_update=0), ids=("r-1",))
    group(s, ("i-new1", "InService"), ("i-new2", "InService"))
    describe(s, refresh("Successful", percent=100, to_update=0), ids=("r-1",))
    rig = Rig(client)
    message = rig.run()
    assert message.startswith("instance refresh r-1 successful: launch template popcon-prod 2")
    assert "converged and completed: i-new1, i-new2" in message
    assert rig.converged == ["i-new1", "i-new2"]
    progress = [r for r in rig.reports if r.startswith("instance refresh r-1:")]
    assert progress == [
        "instance refresh r-1: Pending, 0% complete",
        "instance refresh r-1: InProgress, 50% complete, 1 instance to update",
        "instance refresh r-1: Baking, 100% complete, 0 instances to update",
        "instance refresh r-1: Successful, 100% complete, 0 instances to update",
    ]
    assert rig.reports[0].startswith("instance refresh r-1 started: launch template popcon-prod 1 -> 2")
    assert "new instance i-new1 converged (stack popcon up): lifecycle action completed" in rig.reports
    assert rig.time.slept and all(0 < s <= 15.0 for s in rig.time.slept)


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        (refresh("Failed", reason="Instance i-new1 failed to launch: capacity"), "r-1 failed: Instance i-new1 failed"),
        (refresh("Cancelled", reason="Cancelled by the user"), "instance refresh r-1 was cancelled (Cancelled by"),
        (
            refresh("RollbackSuccessful", reason="rolled back", rollback_reason="Alarm p99 went to ALARM"),
            "r-1 failed and AWS rolled the group back (Alarm p99 went to ALARM)",
        ),
        (refresh("RollbackFailed", rollback_reason="launch failed"), "and so did AWS's rollback (launch failed)"),
    ],
)
def test_an_unsuccessful_end_fails_the_step_with_aws_s_reason(
    stub: tuple[Any, Stubber], final: dict[str, Any], expected: str
) -> None:
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    group(s)
    describe(s, refresh("InProgress", percent=50, to_update=1), ids=("r-1",))
    group(s)
    describe(s, final, ids=("r-1",))
    with pytest.raises(RefreshFailed) as caught:
        Rig(client).run()
    assert expected in str(caught.value) and "autoscaling group popcon-prod-asg" in str(caught.value)


def test_a_refresh_in_progress_towards_the_same_version_is_followed(stub: tuple[Any, Stubber]) -> None:
    """A run killed mid-refresh: the next one finds it and follows it (no second start), converging
    the instance the hook still holds."""
    client, s = stub
    describe(s, refresh("InProgress", refresh_id="r-7", percent=50, to_update=1, reason="Waiting for instances"))
    group(s, ("i-new1", "Pending:Wait"))
    completes(s, "i-new1")
    describe(s, refresh("Successful", refresh_id="r-7", percent=100, to_update=0), ids=("r-7",))
    rig = Rig(client)
    message = rig.run()
    assert message.startswith("instance refresh r-7 successful") and "followed instance refresh r-7" in message
    assert rig.converged == ["i-new1"]


def test_a_refresh_towards_another_version_is_cancelled_first(stub: tuple[Any, Stubber]) -> None:
    client, s = stub
    other = LaunchTemplateRef("popcon-prod", "3")
    describe(s, refresh("InProgress", refresh_id="r-5", template=other, percent=20))
    cancels(s, "r-5")
    describe(s, refresh("Cancelling", refresh_id="r-5", template=other), ids=("r-5",))
    describe(s, refresh("Cancelled", refresh_id="r-5", template=other), ids=("r-5",))
    starts(s, REQUEST, "r-6")
    group(s)
    describe(s, refresh("Successful", refresh_id="r-6", percent=100, to_update=0), ids=("r-6",))
    rig = Rig(client)
    message = rig.run()
    assert "cancelled instance refresh r-5 towards popcon-prod 3" in message
    assert "cancelling instance refresh r-5 (towards popcon-prod 3)" in rig.reports


def test_a_refresh_started_meanwhile_is_followed_not_started_twice(stub: tuple[Any, Stubber]) -> None:
    client, s = stub
    nothing_active(s)
    s.add_client_error("start_instance_refresh", service_error_code="InstanceRefreshInProgress",
                       service_message="An Instance Refresh is already in progress", http_status_code=400,
                       expected_params=REQUEST)  # fmt: skip
    describe(s, refresh("Pending", refresh_id="r-8"))
    group(s)
    describe(s, refresh("Successful", refresh_id="r-8", percent=100, to_update=0), ids=("r-8",))
    assert "followed instance refresh r-8, started meanwhile" in Rig(client).run()


def test_throttling_while_polling_then_success(stub: tuple[Any, Stubber]) -> None:
    client, s = stub
    nothing_active(s)
    throttle(s, "start_instance_refresh")
    starts(s, REQUEST)
    throttle(s, "describe_auto_scaling_groups")
    group(s)
    throttle(s, "describe_instance_refreshes")
    throttle(s, "describe_instance_refreshes")
    describe(s, refresh("Successful", percent=100, to_update=0), ids=("r-1",))
    rig = Rig(client)
    assert rig.run().startswith("instance refresh r-1 successful")
    assert len(rig.time.slept) >= 4  # the backoffs


def test_the_wait_is_bounded_then_the_refresh_is_cancelled(stub: tuple[Any, Stubber]) -> None:
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    for _ in range(15):  # polls at 0, 2, 4, 6, 8, 10, 12.5 ... 47.6, 59.5 and 60 s: a quarter of the time waited
        group(s)
        describe(s, refresh("InProgress", percent=50, to_update=1, reason="Waiting for instance warmup"), ids=("r-1",))
    cancels(s)
    s.add_client_error("cancel_instance_refresh", service_error_code="ActiveInstanceRefreshNotFound",
                       http_status_code=400)  # fmt: skip
    rig = Rig(client)
    with pytest.raises(RefreshFailed) as caught:
        rig.run(refresh_action(timeout=60.0))
    assert "still InProgress, 50% complete, 1 instance to update (Waiting for instance warmup) after 1m" in str(
        caught.value
    )
    assert "cancelled" in str(caught.value) and rig.time.now >= 60.0


def test_a_new_instance_that_cannot_be_converged_is_abandoned_and_the_refresh_cancelled(
    stub: tuple[Any, Stubber],
) -> None:
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    group(s, ("i-old2", "InService"), ("i-new1", "Pending:Wait"))
    completes(s, "i-new1", "ABANDON")
    cancels(s)
    rig = Rig(client, broken=frozenset({"i-new1"}))
    with pytest.raises(RefreshFailed) as caught:
        rig.run()
    assert "instance i-new1" in str(caught.value)
    assert "could not be converged (abandoned: AWS terminates it)" in str(caught.value)
    assert "frontend never became healthy" in str(caught.value)


class _Health(BaseHTTPRequestHandler):
    answers: list[int] = []

    def do_GET(self) -> None:
        code = self.answers.pop(0) if self.answers else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[Callable[[list[int]], int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def answering(codes: list[int]) -> int:
        _Health.answers = list(codes)
        return int(server.server_address[1])

    yield answering
    server.shutdown()
    server.server_close()


def _ec2_answer(instance: str) -> dict[str, Any]:
    return {"Reservations": [{"Instances": [{"InstanceId": instance, "PrivateIpAddress": "127.0.0.1",
                                             "PrivateDnsName": "localhost"}]}]}  # fmt: skip


@pytest.mark.parametrize(("codes", "ok"), [([503, 200], True), ([500, 500, 500], False)])
def test_the_health_gate_runs_on_the_new_instance_before_it_is_completed(
    stub: tuple[Any, Stubber], health_server: Callable[[list[int]], int], codes: list[int], ok: bool
) -> None:
    client, s = stub
    port = health_server(codes)
    check = HealthCheckSpec("frontend", path="/health", port=port, interval=1.0, attempts=3, timeout=2.0)
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ec2) as ec2_stub:
        ec2_stub.add_response("describe_instances", _ec2_answer("i-new1"), {"InstanceIds": ["i-new1"]})
        nothing_active(s)
        starts(s, REQUEST)
        group(s, ("i-new1", "Pending:Wait"))
        if ok:
            completes(s, "i-new1")
            describe(s, refresh("Successful", percent=100, to_update=0), ids=("r-1",))
        else:
            completes(s, "i-new1", "ABANDON")
            cancels(s)
        rig = Rig(client, ec2)
        if ok:
            message = rig.run(refresh_action(check=check))
            assert f"http://127.0.0.1:{port}/health answered HTTP 200 (try 2 of 3)" in " ".join(rig.reports)
            assert "successful" in message
        else:
            with pytest.raises(RefreshFailed, match="health check failed"):
                rig.run(refresh_action(check=check))
        ec2_stub.assert_no_pending_responses()
    ec2.close()


class Killed(BaseException):
    """kill -9 between two polls: nothing after it runs (no cancel, no cleanup)."""


def test_kill_9_mid_refresh_then_the_next_run_follows_it(stub: tuple[Any, Stubber]) -> None:
    """StartInstanceRefresh is called once over both runs; the instance the hook held when the first
    run died is converged and completed by the second."""
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    group(s, ("i-old1", "InService"), ("i-old2", "InService"))
    describe(s, refresh("InProgress", percent=0, to_update=2), ids=("r-1",))
    # the second run
    describe(s, refresh("InProgress", percent=50, to_update=1, reason="Waiting for lifecycle action"),
             refresh("Successful", refresh_id="r-0", template=OLD, percent=100, to_update=0, minutes=-60))  # fmt: skip
    group(s, ("i-new1", "InService"), ("i-new2", "Pending:Wait"))
    completes(s, "i-new2")
    describe(s, refresh("Successful", percent=100, to_update=0), ids=("r-1",))
    first = Rig(client)

    def killed(_seconds: float) -> None:
        raise Killed

    first.fleet = replace(first.fleet, sleep=killed)
    with pytest.raises(Killed):
        first.run()
    second = Rig(client)
    message = second.run()
    assert message.startswith("instance refresh r-1 successful") and "followed instance refresh r-1" in message
    assert first.converged == [] and second.converged == ["i-new2"]


def test_a_converge_that_completes_the_launch_itself_is_not_completed_again(stub: tuple[Any, Stubber]) -> None:
    """The composition root's converge (the units a rotation's replacement gets: stacks, health gate,
    CompleteLifecycleAction CONTINUE) does it all: the step makes no CompleteLifecycleAction of its own."""
    client, s = stub
    nothing_active(s)
    starts(s, REQUEST)
    group(s, ("i-new1", "Pending:Wait"))
    describe(s, refresh("Successful", percent=100, to_update=0), ids=("r-1",))
    rig = Rig(client, completes=True)
    assert "converged and completed: i-new1" in rig.run(refresh_action(check=HealthCheckSpec("frontend", port=1)))
