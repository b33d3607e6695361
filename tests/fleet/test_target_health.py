"""Target health as the sandbox's load balancer sees it: the decision per target and moto's XML rewritten
(pure: HAProxy's servers as data), the follower's declaration, and the requests the AWS front rewrites."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest
from botocore.model import OperationModel
from botocore.parsers import QueryParser

from reconciler.sandbox.fleet import followed
from reconciler.sandbox.fleet.followed import Declaration, FollowedGroup
from reconciler.sandbox.fleet.haproxy import Server
from reconciler.sandbox.fleet.target_health import (
    CHECKING,
    DRAINING,
    HEALTHY,
    NOT_REGISTERED,
    REGISTERING,
    Health,
    decide,
    rewrite,
)
from reconciler.sandbox.front import target_health_request

GROUP = FollowedGroup("arn:tg", "popcon-prod-frontend", 1.0, 2, {"i-a": 1})
ARN = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/popcon-prod-frontend/447f6e1f8f9c0053"


def server(status: str, *, admin: str = "ready", check: str = "INI", code: str = "", down: int = 1,
           since: int = 0, name: str = "i-a") -> Server:  # fmt: skip
    return Server(name, "10.90.1.4:3000", status, 0, admin, check, code, down, since)


@pytest.mark.parametrize(
    ("moto", "lb", "expected"),
    [
        ("healthy", None, REGISTERING),  # the load balancer has not taken the registration yet
        ("healthy", server("UP", admin="drain"), REGISTERING),  # registered again, still draining there
        ("healthy", server("DOWN"), CHECKING),  # just registered: no check yet
        ("healthy", server("DOWN 1/2", check="L7OK", code="200", since=1), CHECKING),  # one good check of two
        ("healthy", server("UP", check="L7OK", code="200"), HEALTHY),
        ("healthy", server("UP 1/2", check="L7STS", code="500"), HEALTHY),  # one failed check: still in service
        ("healthy", server("DOWN", check="L7STS", code="500", since=1), CHECKING),  # failing, not twice in a row yet
        ("healthy", server("DOWN", check="L7STS", code="500", since=2),
         Health("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [500]")),
        ("healthy", server("DOWN", check="L4CON", since=3),
         Health("unhealthy", "Target.FailedHealthChecks", "Health checks failed")),
        ("healthy", server("DOWN", check="L7TOUT", since=3),
         Health("unhealthy", "Target.Timeout", "Request timed out")),
        # it passed since its registration (an UP -> DOWN more than at registration): unhealthy at once
        ("healthy", server("DOWN", check="L7STS", code="503", down=2, since=0),
         Health("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")),
        (None, server("UP", admin="drain"), DRAINING),  # deregistered: moto leaves it out, HAProxy drains it
        (None, server("UP"), DRAINING),  # deregistered, not propagated yet: AWS says draining at once
        ("unused", server("DOWN", admin="drain"), DRAINING),
        ("draining", server("UP", admin="drain"), DRAINING),  # a terminated instance, still draining
        ("draining", None, NOT_REGISTERED),  # moto keeps a terminated one draining for ever
        ("unused", None, None),  # as moto says
        (None, None, None),  # left out
    ],
)  # fmt: skip
def test_decide(moto: str | None, lb: Server | None, expected: Health | None) -> None:
    assert decide(moto, lb, GROUP) == expected


def test_a_server_without_a_baseline_is_judged_by_its_checks_alone() -> None:
    group = FollowedGroup("arn:tg", "b", 1.0, 2)
    assert decide("healthy", server("DOWN", check="L7OK", down=5, since=1), group) == CHECKING


NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"


def moto_answer(*members: tuple[str, str]) -> bytes:
    """moto's DescribeTargetHealth answer (as moto 5.2.5 writes it)."""
    listed = "".join(
        f"<member><Target><Id>{i}</Id><Port>3000</Port></Target><HealthCheckPort>traffic-port</HealthCheckPort>"
        f"<TargetHealth><State>{state}</State>"
        + ("<Reason>Target.NotRegistered</Reason><Description>Target is not registered to the target group"
           "</Description>" if state == "unused" else "")
        + "</TargetHealth></member>"
        for i, state in members
    )  # fmt: skip
    return (
        f'<DescribeTargetHealthResponse xmlns="{NS}"><DescribeTargetHealthResult><TargetHealthDescriptions>'
        f"{listed}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>r1"
        "</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"
    ).encode()


def parse(body: bytes) -> list[dict[str, object]]:
    """The answer as botocore reads it (what the reconciler's driver gets)."""
    model = botocore.session.get_session().get_service_model("elbv2")
    operation: OperationModel = model.operation_model("DescribeTargetHealth")
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    return list(parsed["TargetHealthDescriptions"])


def test_rewrite_every_member_and_add_the_draining_ones() -> None:
    servers = {
        "i-a": server("UP", check="L7OK", code="200"),
        "i-b": server("DOWN", name="i-b"),
        "i-c": Server("i-c", "10.90.1.6:3000", "UP", 1, "drain", "L7OK", "200", 0, 4),
    }
    body = rewrite(moto_answer(("i-a", "healthy"), ("i-b", "healthy")), GROUP, servers, [])
    assert body.startswith(f'<DescribeTargetHealthResponse xmlns="{NS}">'.encode())
    got = parse(body)
    assert [(d["Target"], d["TargetHealth"]) for d in got] == [  # type: ignore[index]
        ({"Id": "i-a", "Port": 3000}, {"State": "healthy"}),
        ({"Id": "i-b", "Port": 3000}, {"State": "initial", "Reason": "Elb.InitialHealthChecking",
                                        "Description": "Initial health checks in progress"}),
        ({"Id": "i-c", "Port": 3000}, {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                                        "Description": "Target deregistration is in progress"}),
    ]  # fmt: skip
    assert all(d["HealthCheckPort"] == "traffic-port" for d in got)


def test_rewrite_answers_only_the_targets_asked() -> None:
    servers = {"i-a": server("UP", admin="drain"), "i-c": server("UP", admin="drain", name="i-c")}
    got = parse(rewrite(moto_answer(("i-a", "unused"), ("i-z", "unused")), GROUP, servers, ["i-a", "i-z"]))
    assert [(d["Target"]["Id"], d["TargetHealth"]["State"]) for d in got] == [  # type: ignore[index]
        ("i-a", "draining"),
        ("i-z", "unused"),
    ]


def test_an_answer_that_is_not_a_listing_is_left_alone() -> None:
    error = b"<ErrorResponse><Error><Code>TargetGroupNotFound</Code></Error></ErrorResponse>"
    assert rewrite(error, GROUP, {}, []) == error


def test_the_requests_the_front_rewrites() -> None:
    form = "application/x-www-form-urlencoded; charset=utf-8"
    body = f"Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn={ARN.replace('/', '%2F')}".encode()
    assert target_health_request("POST", "/", form, body) == (ARN, [])
    asked = body + b"&Targets.member.1.Id=i-a&Targets.member.1.Port=3000&Targets.member.2.Id=i-b"
    assert target_health_request("POST", "/", form, asked) == (ARN, ["i-a", "i-b"])
    assert target_health_request("GET", f"/?Action=DescribeTargetHealth&TargetGroupArn={ARN}", "", b"") == (ARN, [])
    assert target_health_request("POST", "/", form, b"Action=DescribeTargetGroups") is None
    assert target_health_request("POST", "/", "application/x-amz-json-1.1", body) is None  # not the query protocol


def test_a_declaration_round_trips_and_is_written_only_when_it_changes(tmp_path: Path) -> None:
    folder = tmp_path / "balancers"
    declaration = Declaration("fleet", "/run/x/haproxy.sock", (GROUP,))
    assert followed.write(folder, declaration)
    assert not followed.write(folder, declaration)  # the same text: not written again
    assert followed.read(folder, "fleet") == declaration
    assert followed.find(folder, "arn:tg") == (declaration, GROUP)
    assert followed.find(folder, "arn:other") is None
    (folder / "broken.json").write_text("{not json")
    assert followed.read_all(folder) == [declaration]
    followed.remove(folder, "fleet")
    followed.remove(folder, "broken")
    assert not folder.exists()
    assert followed.read_all(folder) == [] and followed.find(folder, "arn:tg") is None
