"""The pure parts of the sandbox's Auto Scaling: which requests it sees (query), what it keeps (book: lifecycle
actions, heartbeats, timeouts, versions, replacements), and how moto's Describe answers are rewritten."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from reconciler.sandbox.asg import book as books
from reconciler.sandbox.asg import query, rewrite
from reconciler.sandbox.asg.book import Book

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _signed(service: str, region: str = "eu-west-1") -> dict[str, str]:
    return {**FORM, "Authorization": SIGNED.format(service=service, region=region)}


def test_a_query_request_names_its_service_region_action_and_parameters() -> None:
    body = b"Action=SetInstanceHealth&Version=2011-01-01&InstanceId=i-1&HealthStatus=Unhealthy"
    req = query.parse("POST", "/", _signed("autoscaling"), body)
    assert req is not None and (req.service, req.region, req.action) == (
        "autoscaling",
        "eu-west-1",
        "SetInstanceHealth",
    )
    assert req.get("InstanceId") == "i-1" and req.flag("ShouldRespectGracePeriod", True)
    unsigned = query.parse("POST", "/?Action=TerminateInstances&Version=2016-11-15", FORM, b"InstanceId.1=i-2")
    assert unsigned is not None and (unsigned.service, unsigned.region, unsigned.action) == (
        "ec2",
        "",
        "TerminateInstances",
    )
    respect = query.parse("POST", "/", _signed("autoscaling"), body + b"&ShouldRespectGracePeriod=false")
    assert respect is not None and not respect.flag("ShouldRespectGracePeriod", True)


def test_what_is_not_a_query_request_is_not_parsed() -> None:
    ssm = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter",
           "Authorization": SIGNED.format(service="ssm", region="eu-west-1")}  # fmt: skip
    assert query.parse("POST", "/", ssm, b'{"Name": "/a"}') is None
    assert query.parse("GET", "/moto-api/config", {}, b"") is None
    assert query.parse("POST", "/", FORM, b"Action=Unknown&Version=1999-01-01") is None


def test_answers_and_errors_are_in_the_service_s_words() -> None:
    assert query.answer("CompleteLifecycleAction").startswith(
        b'<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">'
        b"<CompleteLifecycleActionResult></CompleteLifecycleActionResult><ResponseMetadata><RequestId>"
    )
    assert b"<Code>ValidationError</Code><Message>a &lt;b&gt;</Message>" in query.error("ValidationError", "a <b>")


def test_a_launch_waits_for_each_hook_and_is_in_service_after_the_last() -> None:
    hooks = [("a", 60.0, "ABANDON"), ("b", 30.0, "CONTINUE")]
    book = books.launched(Book(), "g", ["i-1"], "3", hooks, (f"t{n}" for n in itertools.count()), 100.0, "r")
    assert book.waiting() == {"i-1"} and book.versions == {"i-1": "3"} and not book.in_service
    a, b = book.actions
    assert (a.token, a.deadline, a.limit) == ("t0", 160.0, 6100.0) and (b.hook, b.default_result) == ("b", "CONTINUE")
    assert book.find("g", "a", "", "i-1") == a and book.find("g", "b", "t1", "") == b
    assert book.find("g", "a", "t1", "") is None and book.find("other", "a", "", "i-1") is None
    assert book.next_due() == 130.0
    book = books.completed(book, a, 110.0)
    assert book.waiting() == {"i-1"} and not book.in_service
    book = books.completed(book, b, 120.0)
    assert not book.waiting() and book.in_service == {"i-1": 120.0} and book.next_due() is None
    without = books.launched(Book(), "g", ["i-2"], "", [], iter(()), 5.0, "r")
    assert without.in_service == {"i-2": 5.0} and not without.versions and not without.actions


def test_a_heartbeat_restarts_the_wait_but_not_past_the_global_limit() -> None:
    book = books.launched(Book(), "g", ["i-1"], "1", [("h", 60.0, "ABANDON")], iter(["t"]), 0.0, "r")
    (action,) = book.actions
    book = books.heartbeat(book, action, 50.0)
    assert book.actions[0].deadline == 110.0
    book = books.heartbeat(book, book.actions[0], 5990.0)
    assert book.actions[0].deadline == 6000.0 == action.limit  # 100 x 60 s
    long = books.launched(Book(), "g", ["i-1"], "1", [("h", 7200.0, "ABANDON")], iter(["t"]), 0.0, "r")
    assert long.actions[0].limit == books.GLOBAL_TIMEOUT


def test_replacements_and_departures() -> None:
    book = books.launched(Book(), "g", ["i-1", "i-2"], "1", [("h", 60.0, "ABANDON")], iter(["t1", "t2"]), 0.0, "r")
    book = books.unhealthy(book, "i-3", 7.0, "r")
    assert book.replacing == {"i-3": 7.0} and book.next_due() == 7.0
    assert books.unhealthy(book, "i-3", None, "r").replacing == {}
    gone = books.forget(book, ["i-1", "i-3"])
    assert gone.waiting() == {"i-2"} and set(gone.versions) == {"i-2"} and not gone.replacing
    assert books.decode(books.encode(book)) == book
    assert books.decode("not json") == Book() == books.decode('{"actions": [{"token": 1}]}')


MOTO_ANSWER = b"""<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
<DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>g</AutoScalingGroupName>
<LaunchTemplate><LaunchTemplateName>lt</LaunchTemplateName><Version>2</Version></LaunchTemplate><Instances>
<member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState>
<LaunchTemplate><LaunchTemplateName>lt</LaunchTemplateName><Version>1</Version></LaunchTemplate></member>
<member><InstanceId>i-2</InstanceId><LifecycleState>InService</LifecycleState>
<LaunchTemplate><LaunchTemplateName>lt</LaunchTemplateName><Version>1</Version></LaunchTemplate></member>
</Instances></member></AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"""


def test_describe_answers_say_pending_wait_and_each_instance_s_version() -> None:
    out = rewrite.rewrite(MOTO_ANSWER, frozenset({"i-2"}), {"i-2": "2"})
    ns = {"a": "http://autoscaling.amazonaws.com/doc/2011-01-01/"}
    members = ET.fromstring(out).findall(".//a:Instances/a:member", ns)
    got = [(m.findtext("a:InstanceId", "", ns), m.findtext("a:LifecycleState", "", ns),
            m.findtext("a:LaunchTemplate/a:Version", "", ns)) for m in members]  # fmt: skip
    assert got == [("i-1", "InService", "1"), ("i-2", "Pending:Wait", "2")]
    assert ET.fromstring(out).findtext(".//a:AutoScalingGroups/a:member/a:LaunchTemplate/a:Version", "", ns) == "2"
    assert rewrite.rewrite(MOTO_ANSWER, frozenset(), {}) is MOTO_ANSWER
    assert rewrite.rewrite(MOTO_ANSWER, frozenset({"i-9"}), {"i-1": "1"}) is MOTO_ANSWER  # nothing to change
    assert rewrite.rewrite(b"<oops", frozenset({"i-1"}), {}) == b"<oops"
