"""The instance refresh driver against botocore's Stubber on a real Auto Scaling client: the start
request's shape (validated against the real service model) for several rollout settings, describing,
a refresh already in progress, cancelling, completing a lifecycle action, throttling then success."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ParamValidationError

from fleet.refreshkit import GROUP, PREFS, TEMPLATE, FakeTime, ModelViolation, describe, refresh, stubbed, throttle
from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.core.fleet import Amount, HealthCheckSpec, RolloutSpec
from reconciler.core.instance_refresh import RefreshPreferences, refresh_preferences
from reconciler.core.rotation import LaunchTemplateRef
from reconciler.drivers.aws.instance_refresh import InstanceRefresher, RefreshInProgress, start_request


def refresher(client: Any, time: FakeTime | None = None) -> InstanceRefresher:
    time = time or FakeTime()
    return InstanceRefresher(client, sleep=time.sleep, clock=time.clock)


def test_start_sends_the_preferences_derived_from_the_rollout() -> None:
    prefs = refresh_preferences(
        RolloutSpec(batch=Amount(1), alarms=("p99", "5xx"), bake=120.0,
                    health_check=HealthCheckSpec("frontend", interval=10.0)), 4)  # fmt: skip
    expected = {
        "AutoScalingGroupName": GROUP,
        "Strategy": "Rolling",
        "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateName": "popcon-prod", "Version": "2"}},
        "Preferences": {
            "MinHealthyPercentage": 75,
            "MaxHealthyPercentage": 100,
            "SkipMatching": True,
            "AutoRollback": True,
            "StandbyInstances": "Ignore",
            "ScaleInProtectedInstances": "Refresh",
            "InstanceWarmup": 10,
            "AlarmSpecification": {"Alarms": ["p99", "5xx"]},
            "BakeTime": 120,
        },
    }
    with stubbed() as (client, stub):
        stub.add_response("start_instance_refresh", {"InstanceRefreshId": "r-1"}, expected)
        assert refresher(client).start(GROUP, TEMPLATE, prefs) == "r-1"


@pytest.mark.parametrize(
    ("rollout", "size", "low", "high"),
    [
        (RolloutSpec(), 4, 75, 100),  # batch 1 of 4: 3 kept
        (RolloutSpec(), 3, 66, 100),  # 2 of 3: AWS keeps ceil(1.98) = 2
        (RolloutSpec(batch=Amount(50, percent=True)), 4, 50, 100),
        (RolloutSpec(batch=Amount(1), min_healthy=Amount(100, percent=True)), 4, 100, 125),  # launch first
        (RolloutSpec(batch=Amount(2), min_healthy=Amount(3)), 3, 100, 167),
        (RolloutSpec(batch=Amount(1)), 1, 0, 100),
        (RolloutSpec(min_healthy=Amount(0)), 2, 0, 100),
        (RolloutSpec(batch=Amount(100, percent=True), min_healthy=Amount(100, percent=True)), 2, 100, 200),
    ],
)
def test_every_derived_start_request_passes_the_service_model(
    rollout: RolloutSpec, size: int, low: int, high: int
) -> None:
    prefs = refresh_preferences(rollout, size)
    assert (prefs.min_healthy, prefs.max_healthy) == (low, high)
    # AWS keeps ceil(low% of size) healthy: never fewer than minHealthy says, never more than it can
    kept = -(-low * size // 100)
    assert kept == min(size, rollout.min_in_service(size))
    request = start_request(GROUP, TEMPLATE, prefs)
    with stubbed() as (client, stub):
        stub.add_response("start_instance_refresh", {"InstanceRefreshId": "r-9"}, request)
        assert refresher(client).start(GROUP, TEMPLATE, prefs) == "r-9"


def test_the_service_model_refuses_what_preferences_cannot_hold() -> None:
    """The model is really checked: a MaxHealthyPercentage over 200, an unknown enum value or a
    template name AWS would refuse never reach the stub (botocore alone checks no maximum)."""
    bad = RefreshPreferences(min_healthy=100, max_healthy=201)
    request = start_request(GROUP, TEMPLATE, bad)
    bad_name = start_request(GROUP, LaunchTemplateRef("no spaces", "2"), PREFS)
    odd = {**request, "Preferences": {**request["Preferences"], "StandbyInstances": "Maybe"}}
    with stubbed(all_used=False) as (client, stub):
        for _ in range(4):  # answers the model check never lets the calls reach
            stub.add_response("start_instance_refresh", {"InstanceRefreshId": "r-0"})
        with pytest.raises(ModelViolation, match="MaxHealthyPercentage: value 201 above 200"):
            client.start_instance_refresh(**request)
        with pytest.raises(ModelViolation, match="LaunchTemplateName: 'no spaces' does not match"):
            client.start_instance_refresh(**bad_name)
        with pytest.raises(ModelViolation, match="StandbyInstances: 'Maybe' not one of"):
            client.start_instance_refresh(**odd)
        with pytest.raises((ModelViolation, ParamValidationError), match="AutoScalingGroupName"):
            client.start_instance_refresh(Strategy="Rolling")  # a required member missing


def test_checkpoints_are_sent_with_their_delay() -> None:
    prefs = RefreshPreferences(min_healthy=90, max_healthy=100, checkpoints=(50, 100), checkpoint_delay=300)
    request = start_request(GROUP, TEMPLATE, prefs)
    assert request["Preferences"]["CheckpointPercentages"] == [50, 100]
    assert request["Preferences"]["CheckpointDelay"] == 300
    with stubbed() as (client, stub):
        stub.add_response("start_instance_refresh", {"InstanceRefreshId": "r-2"}, request)
        refresher(client).start(GROUP, TEMPLATE, prefs)


def test_a_refresh_in_progress_is_told_apart() -> None:
    with stubbed() as (client, stub):
        stub.add_client_error("start_instance_refresh", service_error_code="InstanceRefreshInProgress",
                              service_message="An Instance Refresh is already in progress", http_status_code=400,
                              expected_params=start_request(GROUP, TEMPLATE, PREFS))  # fmt: skip
        with pytest.raises(RefreshInProgress):
            refresher(client).start(GROUP, TEMPLATE, PREFS)


def test_other_start_errors_name_the_group() -> None:
    with stubbed() as (client, stub):
        stub.add_client_error("start_instance_refresh", service_error_code="ValidationError",
                              service_message="The launch template version 9 does not exist",
                              http_status_code=400)  # fmt: skip
        with pytest.raises(PermanentError) as caught:
            refresher(client).start(GROUP, TEMPLATE, PREFS)
    assert "autoscaling group popcon-prod-asg" in str(caught.value)
    assert "version 9 does not exist" in str(caught.value)


def test_throttled_start_is_retried_then_succeeds() -> None:
    time = FakeTime()
    with stubbed() as (client, stub):
        throttle(stub, "start_instance_refresh")
        throttle(stub, "start_instance_refresh")
        stub.add_response("start_instance_refresh", {"InstanceRefreshId": "r-3"},
                          start_request(GROUP, TEMPLATE, PREFS))  # fmt: skip
        assert refresher(client, time).start(GROUP, TEMPLATE, PREFS) == "r-3"
    assert len([s for s in time.slept if s > 0]) >= 2


def test_describe_reads_progress_and_the_active_one() -> None:
    with stubbed() as (client, stub):
        describe(stub, refresh("InProgress", refresh_id="r-2", percent=50, to_update=1, minutes=5),
                 refresh("Successful", refresh_id="r-1", percent=100, to_update=0))  # fmt: skip
        describe(stub, refresh("Successful", refresh_id="r-1", percent=100, to_update=0))
        driver = refresher(client)
        active = driver.active(GROUP)
        assert active is not None and active.id == "r-2"
        assert active.progress() == "InProgress, 50% complete, 1 instance to update"
        assert active.template == LaunchTemplateRef("popcon-prod", "2")
        assert driver.active(GROUP) is None


def test_describe_is_retried_on_throttling() -> None:
    time = FakeTime()
    with stubbed() as (client, stub):
        throttle(stub, "describe_instance_refreshes")
        describe(stub, refresh("Pending"), ids=("r-1",))
        state = refresher(client, time).refresh(GROUP, "r-1")
    assert state.status == "Pending"


def test_describe_gives_up_after_its_budget() -> None:
    time = FakeTime()
    with stubbed(all_used=False) as (client, stub):
        for _ in range(30):
            throttle(stub, "describe_instance_refreshes")
        driver = InstanceRefresher(client, sleep=time.sleep, clock=time.clock, budget=20.0)
        with pytest.raises(TemporaryError, match="throttled"):
            driver.refreshes(GROUP)
    assert 0 < time.now <= 20.0


def test_cancel_waits_for_the_instances_under_way() -> None:
    with stubbed() as (client, stub):
        params = {"AutoScalingGroupName": GROUP, "WaitForTransitioningInstances": True}
        stub.add_response("cancel_instance_refresh", {"InstanceRefreshId": "r-1"}, params)
        stub.add_client_error("cancel_instance_refresh", service_error_code="ActiveInstanceRefreshNotFound",
                              http_status_code=400, expected_params=params)  # fmt: skip
        driver = refresher(client)
        assert driver.cancel(GROUP) == "r-1"
        assert driver.cancel(GROUP) is None


def test_complete_launch_continues_or_abandons() -> None:
    with stubbed() as (client, stub):
        base = {"AutoScalingGroupName": GROUP, "LifecycleHookName": "reconciler-launch", "InstanceId": "i-1"}
        stub.add_response("complete_lifecycle_action", {}, {**base, "LifecycleActionResult": "CONTINUE"})
        stub.add_response("complete_lifecycle_action", {}, {**base, "LifecycleActionResult": "ABANDON"})
        stub.add_client_error("complete_lifecycle_action", service_error_code="ValidationError",
                              service_message="No active Lifecycle Action found with instance ID i-1",
                              http_status_code=400)  # fmt: skip
        stub.add_client_error("complete_lifecycle_action", service_error_code="ValidationError",
                              service_message="No Lifecycle Hook named nope", http_status_code=400)  # fmt: skip
        driver = refresher(client)
        driver.complete_launch(GROUP, "reconciler-launch", "i-1", ok=True)
        driver.complete_launch(GROUP, "reconciler-launch", "i-1", ok=False)
        driver.complete_launch(GROUP, "reconciler-launch", "i-1", ok=True)  # completed already: nothing to do
        with pytest.raises(PermanentError, match="No Lifecycle Hook named nope"):
            driver.complete_launch(GROUP, "nope", "i-1", ok=True)
