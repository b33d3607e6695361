"""The sandbox's AWS endpoint behaves as AWS's Auto Scaling where moto 5.2.5 does not: each instance reports the
launch template version it was launched with; a launch hook holds a new instance in Pending:Wait, out of the
target groups, until CompleteLifecycleAction (CONTINUE: in service and registered; ABANDON: terminated and
replaced) or its heartbeat timeout (the hook's default result); an instance that leaves its group leaves its
target groups; SetInstanceHealth Unhealthy gets the instance replaced. Everything through boto3 against a
private front and moto (tests/sandbox/asgkit.py); moto itself is asked only to show what it would have said."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.sandbox.front import Front
from tests.sandbox.asgkit import AMI_2, Endpoint, Group, client, until

pytestmark = pytest.mark.world


def _version_2(g: Group) -> None:
    g.aws("ec2").create_launch_template_version(LaunchTemplateName=g.template, SourceVersion="1",
                                                LaunchTemplateData={"ImageId": AMI_2})  # fmt: skip
    g.aws("autoscaling").update_auto_scaling_group(AutoScalingGroupName=g.name, LaunchTemplate={
        "LaunchTemplateName": g.template, "Version": "2"})  # fmt: skip


def test_an_instance_reports_the_version_it_was_launched_with(g: Group, endpoint: Endpoint) -> None:
    first = g.versions()
    assert g.describe()["LaunchTemplate"]["Version"] == "1" and set(first.values()) == {"1"}
    _version_2(g)
    assert g.versions() == first  # the running ones stay on 1
    old = sorted(first)[0]
    g.terminate(old)
    new = g.new_one(set(first) - {old})
    assert g.versions() == {**{i: "1" for i in first if i != old}, new: "2"}
    described = g.aws("autoscaling").describe_auto_scaling_instances(InstanceIds=[new])["AutoScalingInstances"]
    assert described[0]["LaunchTemplate"]["Version"] == "2"
    (reservation,) = g.aws("ec2").describe_instances(InstanceIds=[new])["Reservations"]
    tags = {t["Key"]: t["Value"] for t in reservation["Instances"][0]["Tags"]}
    assert reservation["Instances"][0]["ImageId"] == AMI_2 and tags["aws:ec2launchtemplate:version"] == "2"
    moto_says = client("autoscaling", endpoint.moto_url).describe_auto_scaling_groups(AutoScalingGroupNames=[g.name])
    assert {i["LaunchTemplate"]["Version"] for i in moto_says["AutoScalingGroups"][0]["Instances"]} == {"1"}


def test_latest_is_resolved_to_the_number_it_launched(g: Group) -> None:
    _version_2(g)
    g.aws("autoscaling").update_auto_scaling_group(AutoScalingGroupName=g.name, LaunchTemplate={
        "LaunchTemplateName": g.template, "Version": "$Latest"})  # fmt: skip
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    assert g.versions()[g.new_one(before)] == "2"


def test_a_terminated_instance_leaves_the_target_group_and_is_replaced(g: Group, endpoint: Endpoint) -> None:
    before = set(g.states())
    assert g.registered() == before
    leaving = sorted(before)[0]
    g.terminate(leaving)
    new = g.new_one(before - {leaving})
    assert g.registered() == g.registered(endpoint.moto_url) == (before - {leaving}) | {new}
    assert g.describe()["DesiredCapacity"] == 2


def test_scale_in_deregisters_the_instances_it_removes(g: Group) -> None:
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=1)
    (staying,) = g.states()
    assert g.registered() == {staying}


def test_a_launch_hook_holds_a_new_instance_out_of_service_until_continue(g: Group, endpoint: Endpoint) -> None:
    g.hook()
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    assert g.states() == {**dict.fromkeys(before, "InService"), new: "Pending:Wait"}
    asked = g.aws("autoscaling").describe_auto_scaling_instances(InstanceIds=[new])["AutoScalingInstances"]
    assert asked[0]["LifecycleState"] == "Pending:Wait"
    assert g.registered() == g.registered(endpoint.moto_url) == before  # moto had registered it at launch
    (reservation,) = g.aws("ec2").describe_instances(InstanceIds=[new])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "running"  # converged over ssh meanwhile
    g.complete(new)
    assert g.states()[new] == "InService" and g.registered() == before | {new}
    with pytest.raises(ClientError, match=f"No active Lifecycle Action found with instance ID {new}"):
        g.complete(new)  # done once


def test_another_change_to_the_group_does_not_register_a_waiting_instance(g: Group) -> None:
    """moto registers every member of a group at each capacity change; a waiting one stays out."""
    g.hook()
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    waiting = g.new_one(before)
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=4)
    second = g.new_one(before | {waiting})
    g.aws("autoscaling").attach_load_balancer_target_groups(AutoScalingGroupName=g.name,
                                                            TargetGroupARNs=[g.target_group])  # fmt: skip
    assert g.registered() == before
    assert {g.states()[waiting], g.states()[second]} == {"Pending:Wait"}


def test_completion_by_token_and_abandon_replaces_through_the_hook(g: Group, front: Front) -> None:
    g.hook()
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    (action,) = front.autoscaling.book.actions  # AWS sends the token to the hook's notification target
    assert action.instance_id == new and action.group == g.name and action.hook == "launch"
    g.aws("autoscaling").complete_lifecycle_action(AutoScalingGroupName=g.name, LifecycleHookName="launch",
                                                   LifecycleActionToken=action.token,
                                                   LifecycleActionResult="ABANDON")  # fmt: skip
    again = g.new_one(before | {new})  # the abandoned one is gone, another is launched
    assert new not in g.states() and g.states()[again] == "Pending:Wait"
    (reservation,) = g.aws("ec2").describe_instances(InstanceIds=[new])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
    assert g.registered() == before and g.describe()["DesiredCapacity"] == 3


def test_the_default_result_applies_at_the_heartbeat_timeout(g: Group) -> None:
    g.hook(timeout=1, default="CONTINUE")
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    assert g.states()[new] == "Pending:Wait"
    until("in service at the timeout", lambda: g.states()[new] == "InService", 10)
    assert g.registered() == before | {new}


def test_a_heartbeat_extends_the_wait_and_abandon_by_default_replaces(g: Group, front: Front) -> None:
    g.hook(timeout=2, default="ABANDON")
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    (first,) = front.autoscaling.book.actions
    g.aws("autoscaling").record_lifecycle_action_heartbeat(AutoScalingGroupName=g.name, LifecycleHookName="launch",
                                                           InstanceId=new)  # fmt: skip
    (extended,) = front.autoscaling.book.actions
    assert extended.deadline > first.deadline and extended.token == first.token
    until("abandoned at the timeout", lambda: new not in g.states(), 15)
    assert g.new_one(before) != new and g.registered() == before


def test_deleting_the_hook_abandons_what_it_holds(g: Group) -> None:
    g.hook()
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    g.aws("autoscaling").delete_lifecycle_hook(AutoScalingGroupName=g.name, LifecycleHookName="launch")
    states = g.states()
    assert new not in states and set(states.values()) == {"InService"} and len(states) == 3
    assert g.registered() == set(states)


def test_lifecycle_errors_are_aws_validation_errors(g: Group) -> None:
    asg = g.aws("autoscaling")
    g.hook()
    some = sorted(g.states())[0]
    cases = [
        ({"InstanceId": some, "LifecycleActionResult": "CONTINUE"}, f"found with instance ID {some}"),
        ({"LifecycleActionToken": "0" * 36, "LifecycleActionResult": "CONTINUE"}, "found with token 0000"),
        ({"InstanceId": some, "LifecycleActionResult": "MAYBE"}, "CONTINUE and ABANDON"),
        ({"LifecycleActionResult": "CONTINUE"}, "LifecycleActionToken or InstanceId"),
    ]
    for params, message in cases:
        with pytest.raises(ClientError) as caught:
            asg.complete_lifecycle_action(AutoScalingGroupName=g.name, LifecycleHookName="launch", **params)
        error = caught.value.response["Error"]
        assert error["Code"] == "ValidationError" and message in error["Message"], (params, error)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError, match=r"ValidationError.*with instance ID"):
        asg.record_lifecycle_action_heartbeat(AutoScalingGroupName=g.name, LifecycleHookName="nope", InstanceId=some)


def test_an_unhealthy_instance_is_replaced(g: Group) -> None:
    before = set(g.states())
    sick = sorted(before)[0]
    g.aws("autoscaling").set_instance_health(InstanceId=sick, HealthStatus="Unhealthy")
    assert g.states()[sick] == "InService"  # marked, not yet replaced
    new = g.new_one(before)
    assert sick not in g.states() and g.registered() == (before - {sick}) | {new}
    assert g.describe()["DesiredCapacity"] == 2


def test_an_unhealthy_instance_within_its_grace_period_waits_for_it(endpoint: Endpoint, g: Group) -> None:
    g.aws("autoscaling").update_auto_scaling_group(AutoScalingGroupName=g.name, HealthCheckGracePeriod=3600)
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    young = g.new_one(before)
    asg = g.aws("autoscaling")
    asg.set_instance_health(InstanceId=young, HealthStatus="Unhealthy")
    old = sorted(before)[0]
    asg.set_instance_health(InstanceId=old, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)
    until("the old one replaced", lambda: old not in g.states())
    assert young in g.states()  # in service for less than the grace period


def test_the_load_balancer_never_sees_a_waiting_instance_registered(g: Group) -> None:
    """Registrations read while the group launches (moto registers the new instance, the front takes it out
    before anyone reads again) never include the waiting instance."""
    g.hook()
    before = set(g.states())
    seen: set[str] = set()
    stop = threading.Event()

    def watch(elbv2: Any) -> None:
        while not stop.is_set():
            health = elbv2.describe_target_health(TargetGroupArn=g.target_group)["TargetHealthDescriptions"]
            seen.update(h["Target"]["Id"] for h in health)

    watchers = [threading.Thread(target=watch, args=(g.aws("elbv2"),)) for _ in range(3)]
    for w in watchers:
        w.start()
    try:
        for n in (3, 4):
            g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=n)
            until(f"{n} instances", functools.partial(lambda want: len(g.states()) == want, n))
    finally:
        stop.set()
        for w in watchers:
            w.join()
    assert seen == before and len(g.states()) == 4


def test_a_restarted_front_goes_on_where_it_was(endpoint: Endpoint, g: Group, front: Front) -> None:
    g.hook()
    before = set(g.states())
    g.aws("autoscaling").set_desired_capacity(AutoScalingGroupName=g.name, DesiredCapacity=3)
    new = g.new_one(before)
    with endpoint.front(state=front.autoscaling.state) as again:
        other = Group(g.name, g.template, g.target_group, f"http://127.0.0.1:{again.server_address[1]}")
        assert other.states()[new] == "Pending:Wait"
        other.complete(new)
        assert other.registered() == before | {new}


def test_deregistering_a_target_no_longer_registered_succeeds_as_on_aws(g: Group, endpoint: Endpoint) -> None:
    """The group has taken out the instance it terminated; a test (or the reconciler) deregistering it too
    gets AWS's success, where moto says InvalidTarget."""
    elbv2 = g.aws("elbv2")
    before = sorted(g.states())
    g.terminate(before[0])
    elbv2.deregister_targets(TargetGroupArn=g.target_group, Targets=[{"Id": before[0]}])
    with pytest.raises(ClientError, match="InvalidTarget"):
        client("elbv2", endpoint.moto_url).deregister_targets(TargetGroupArn=g.target_group,
                                                              Targets=[{"Id": before[0]}])  # fmt: skip
    elbv2.deregister_targets(TargetGroupArn=g.target_group, Targets=[{"Id": before[0]}, {"Id": before[1]}])
    assert before[1] not in g.registered() and len(g.registered()) == 1
    with pytest.raises(ClientError, match="TargetGroupNotFound"):
        elbv2.deregister_targets(TargetGroupArn=g.target_group + "0", Targets=[{"Id": before[1]}])
