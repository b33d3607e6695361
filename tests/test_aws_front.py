"""The sandbox's AWS endpoint is a front with moto behind it: everything but the target health of a followed
target group passes through as it came (requests and answers, errors, HEAD, keep-alive), and a front whose
moto does not answer says so. The target health itself: tests/fleet/test_lb_health.py."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from reconciler.cli import main
from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import moto
from reconciler.sandbox.front import MARKER_PATH, MODULE, Front
from reconciler.sandbox.layout import endpoints
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.sandbox.processes import Clock

pytestmark = pytest.mark.world
VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "connection", "keep-alive"}


def _client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="ap-northeast-2",  # type: ignore[call-overload]
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def _raw(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        kept = sorted((k.lower(), v) for k, v in resp.getheaders() if k.lower() not in VOLATILE)
        return resp.status, kept, data
    finally:
        conn.close()


@pytest.fixture(scope="module")
def both(sandbox: SandboxInfo) -> tuple[str, str]:
    """(the AWS endpoint, moto itself)."""
    itself = endpoints().moto_server_url
    assert moto.front_answers(endpoints().moto_port) and not moto.front_answers(endpoints().moto_server_port)
    return sandbox.moto_url, itself


def test_answers_come_back_as_moto_gave_them(both: tuple[str, str]) -> None:
    front, itself = both
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    for method, path, body, headers in [
        ("GET", "/moto-api/config", b"", {}),
        ("POST", "/", b"Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=no-such-group", form),
        ("POST", "/", b'{"Name": "/popcon/dev/db_host"}',
         {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter",
          "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/ap-northeast-2/ssm/aws4_request, "
                           "SignedHeaders=host, Signature=0"}),
    ]:  # fmt: skip
        through = _raw(front, method, path, body, headers)
        direct = _raw(itself, method, path, body, headers)
        assert through == direct, (path, body)


def test_requests_reach_moto_as_they_were_sent(both: tuple[str, str]) -> None:
    """S3 (a binary body, Expect: 100-continue, metadata headers, HEAD) through the front."""
    front, itself = both
    s3, direct = _client("s3", front), _client("s3", itself)
    bucket, payload = f"front-{uuid.uuid4().hex[:8]}", bytes(range(256)) * 4096 + b"\r\n0\r\n\r\n"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=payload, Metadata={"note": "as sent"})
        got = direct.get_object(Bucket=bucket, Key="k")
        assert got["Body"].read() == payload and got["Metadata"] == {"note": "as sent"}
        head = s3.head_object(Bucket=bucket, Key="k")
        assert head["ContentLength"] == len(payload) and head["ETag"] == got["ETag"]
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == payload
    finally:
        s3.delete_object(Bucket=bucket, Key="k")
        s3.delete_bucket(Bucket=bucket)
        s3.close()
        direct.close()


def test_errors_pass_through(both: tuple[str, str]) -> None:
    found = []
    for url in both:
        with pytest.raises(ClientError) as caught:
            _client("elbv2", url).describe_target_groups(Names=["no-such-group"])
        response = caught.value.response
        found.append((response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]))
    assert found[0] == found[1] == ("TargetGroupNotFound", 400)


def test_one_connection_carries_many_requests(both: tuple[str, str]) -> None:
    host, port = both[0].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        sockets = []
        for _ in range(3):
            conn.request("GET", "/moto-api/config")
            resp = conn.getresponse()
            assert resp.status == 201 and json.loads(resp.read())  # moto answers its config with 201
            assert resp.getheader("Connection") is None  # kept alive (moto itself closes each one)
            sockets.append(conn.sock)
        assert sockets[0] is not None and all(s is sockets[0] for s in sockets)
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def orphan_front(tmp_path: Path) -> Iterator[str]:
    """A front whose moto does not answer."""
    server = Front(_free_port(), f"http://127.0.0.1:{_free_port()}", tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_front_without_moto_says_so_and_tells_itself_apart(orphan_front: str) -> None:
    status, _, body = _raw(orphan_front, "POST", "/", b"Action=DescribeTargetHealth&TargetGroupArn=x")
    assert status == 502 and b"the sandbox's AWS front: moto at http://127.0.0.1:" in body
    status, _, body = _raw(orphan_front, "GET", MARKER_PATH)
    assert status == 200 and json.loads(body)["front"] == MODULE


def test_status_lists_the_front_and_moto_behind_it(sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "status", "--format", "json", "--state-dir", str(sandbox.state_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["aws_front"]["address"] == sandbox.moto_url == report["moto"]["address"]
    assert report["aws_front"]["running"] and report["moto"]["running"]
    assert report["aws_front"]["upstream"] == report["moto"]["server"] == endpoints().moto_server_url


def test_a_moto_on_the_aws_port_moves_behind_the_front_if_this_sandbox_started_it(tmp_path: Path) -> None:
    """A sandbox from before the front ran moto on the AWS port itself: ``up`` restarts it behind the front;
    someone else's moto there is a clear error."""
    where, clock, events = endpoints(moto_port=_free_port(), moto_internal_port=_free_port()), Clock(), []
    other, mine = tmp_path / "other", tmp_path / "mine"
    moto.ensure_moto(other, where.moto_port, clock)
    try:
        with pytest.raises(ReconcilerError, match="RECONCILER_SANDBOX_MOTO_INTERNAL_PORT"):
            moto.ensure_aws(mine, where, clock, events.append)
    finally:
        moto.DAEMON.stop(other, clock)
    moto.ensure_moto(mine, where.moto_port, clock)
    try:
        aws, front = moto.ensure_aws(mine, where, clock, events.append)
        assert aws.started and front.started
        assert moto.front_answers(where.moto_port) and moto.moto_answers(where.moto_port)  # through the front
        assert moto.moto_answers(where.moto_server_port) and not moto.front_answers(where.moto_server_port)
        assert len(events) == 1 and "from before the AWS front" in events[0]
        again = moto.ensure_aws(mine, where, clock, events.append)
        assert not again[0].started and not again[1].started and len(events) == 1
    finally:
        moto.FRONT.stop(mine, clock)
        moto.DAEMON.stop(mine, clock)
    assert not moto.front_answers(where.moto_port) and not moto.moto_answers(where.moto_server_port)
