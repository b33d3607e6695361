"""The HTTP listener over a real socket on 127.0.0.1 (reconciler.serve.Listener)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from reconciler.serve import Listener, ListenError, Push, parse_address, send_push, sign

SECRET = b"the webhook secret"
SHA = "0123456789abcdef0123456789abcdef01234567"
MARKER = "body-marker-never-logged"


def push_body(ref: str = "refs/heads/main", after: str = SHA, **extra: Any) -> bytes:
    data = {
        "ref": ref,
        "after": after,
        "repository": {"full_name": "acme/envs", "clone_url": "https://github.com/acme/envs.git"},
        "pusher": {"name": "alice"},
        "head_commit": {"message": MARKER},
        **extra,
    }
    return json.dumps(data).encode()


@dataclass
class Rig:
    listener: Listener
    pushes: list[Push] = field(default_factory=list)
    ready: list[tuple[bool, str]] = field(default_factory=lambda: [(True, "last tick in sync")])
    logs: list[str] = field(default_factory=list)

    @property
    def hostport(self) -> tuple[str, int]:
        parts = urlsplit(self.listener.url)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self.hostport, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, str, Any]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
            response = conn.getresponse()
            return response.status, response.read().decode(), response.headers
        finally:
            conn.close()

    def deliver(
        self, body: bytes, *, event: str = "push", delivery: str = "d-1", signature: str | None = None, **headers: str
    ) -> tuple[int, str]:
        headers.setdefault("Content_Type", "application/json")
        headers["X_GitHub_Event"] = event
        headers["X_GitHub_Delivery"] = delivery
        headers["X_Hub_Signature_256"] = sign(SECRET, body) if signature is None else signature
        status, text, _ = self.request("POST", "/webhook", body, **headers)
        return status, text


def make_rig(secret: bytes | None = SECRET, **options: Any) -> Rig:
    rig = Rig(listener=None)  # type: ignore[arg-type]

    def on_push(push: Push) -> None:
        rig.pushes.append(push)

    rig.listener = Listener(
        "127.0.0.1:0",
        secret=secret,
        branch="main",
        on_push=options.pop("on_push", on_push),
        readiness=lambda: rig.ready[-1],
        log=rig.logs.append,
        **options,
    )
    rig.listener.start()
    return rig


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = make_rig(
        metrics=lambda: "# TYPE reconciler_ticks_total counter\nreconciler_ticks_total 3"
    )  # no final newline
    yield rig
    rig.listener.stop()


def test_a_signed_push_starts_one_tick(rig: Rig) -> None:
    status, text = rig.deliver(push_body(), delivery="abc-123")
    assert (status, text) == (202, f"accepted: {SHA} on main\n")
    assert rig.pushes == [
        Push("main", SHA, "acme/envs", "alice", "abc-123", "https://github.com/acme/envs.git", MARKER)
    ]


def test_the_github_path_is_served_too(rig: Rig) -> None:
    body = push_body()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": sign(SECRET, body)}
    conn = rig.connection()
    conn.request("POST", "/hooks/github", body=body, headers=headers)
    assert conn.getresponse().status == 202
    conn.close()
    assert len(rig.pushes) == 1


@pytest.mark.parametrize(
    "signature",
    [
        sign(b"another secret", push_body()),
        "",
        sign(SECRET, push_body(after="f" * 40)),
        "sha1=" + "0" * 40,
        "sha256=" + "z" * 64,
        sign(SECRET, push_body()).upper(),
    ],
    ids=["wrong-secret", "empty", "other-body", "sha1", "not-hex", "uppercase"],
)
def test_bad_signatures_get_401_and_start_nothing(rig: Rig, signature: str) -> None:
    status, text = rig.deliver(push_body(), signature=signature)
    assert status == 401 and text.startswith("unauthorized")
    assert rig.pushes == []


def test_a_missing_signature_gets_401(rig: Rig) -> None:
    body = push_body()
    status, _, _ = rig.request("POST", "/webhook", body, Content_Type="application/json", X_GitHub_Event="push")
    assert status == 401 and rig.pushes == []


@pytest.mark.parametrize("secret", [None, b""])
def test_without_a_secret_every_webhook_gets_401(secret: bytes | None) -> None:
    rig = make_rig(secret=secret)
    try:
        body = push_body()
        assert rig.deliver(body, signature=sign(b"", body)) == (401, "unauthorized\n")
        assert rig.deliver(b"{}", event="ping", signature=sign(b"", b"{}"))[0] == 401
        assert rig.pushes == []
        assert any("no webhook secret is configured" in line for line in rig.logs)
    finally:
        rig.listener.stop()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (push_body(ref="refs/heads/feature"), "refs/heads/feature"),
        (push_body(ref="refs/tags/v2.0.0"), "tag 'v2.0.0'"),
        (push_body(deleted=True, after="0" * 40), "deletion of branch 'main'"),
    ],
)
def test_other_pushes_are_ignored(rig: Rig, body: bytes, why: str) -> None:
    status, text = rig.deliver(body)
    assert status == 202 and text.startswith("ignored:") and why in text
    assert rig.pushes == []


def test_ping_and_other_events(rig: Rig) -> None:
    assert rig.deliver(b'{"zen": "Speak like a human."}', event="ping") == (200, "pong\n")
    status, text = rig.deliver(b'{"action": "opened"}', event="issues")
    assert status == 202 and "'issues' is not a push" in text
    assert rig.pushes == []


def test_the_form_encoding_is_accepted(rig: Rig) -> None:
    body = urlencode({"payload": push_body().decode()}).encode()
    assert rig.deliver(body, Content_Type="application/x-www-form-urlencoded")[0] == 202
    assert [p.sha for p in rig.pushes] == [SHA]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'["a list"]', "application/json", 400),
        (b'{"ref": "refs/heads/main", "after": "HEAD"}', "application/json", 400),
        (push_body(), "text/plain", 415),
    ],
)
def test_signed_but_unreadable_bodies(rig: Rig, body: bytes, content_type: str, status: int) -> None:
    assert rig.deliver(body, Content_Type=content_type)[0] == status
    assert rig.pushes == []


def _raw_post(rig: Rig, length: str | None, sent: bytes, *, chunked: bool = False) -> tuple[int, str]:
    conn = rig.connection()
    conn.putrequest("POST", "/webhook")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("X-GitHub-Event", "push")
    conn.putheader("X-Hub-Signature-256", sign(SECRET, sent))
    if length is not None:
        conn.putheader("Content-Length", length)
    if chunked:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders(sent, encode_chunked=chunked)
    response = conn.getresponse()
    result = response.status, response.read().decode()
    conn.close()
    return result


def test_an_oversized_body_gets_413_without_being_read() -> None:
    rig = make_rig(max_body=1024)
    try:
        # announces 10 MiB, sends 2 KiB and waits for the answer: only the announced length is judged
        status, text = _raw_post(rig, str(10 << 20), b"x" * 2048)
        assert status == 413 and "limit 1024 bytes" in text
        assert rig.deliver(push_body())[0] == 202  # a body under the limit is fine
        assert len(rig.pushes) == 1
    finally:
        rig.listener.stop()


def test_a_body_needs_a_content_length(rig: Rig) -> None:
    assert _raw_post(rig, None, b"")[0] == 411
    assert _raw_post(rig, None, push_body(), chunked=True)[0] == 411
    assert _raw_post(rig, "-5", b"")[0] == 400
    conn = rig.connection()  # two lengths: a smuggling attempt, refused
    body = push_body()
    conn.putrequest("POST", "/webhook")
    for name, value in [
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", sign(SECRET, body)),
        ("Content-Length", str(len(body))),
        ("Content-Length", "2"),
    ]:
        conn.putheader(name, value)
    conn.endheaders(body)
    assert conn.getresponse().status == 400
    conn.close()
    assert rig.pushes == []


def test_health_and_readiness(rig: Rig) -> None:
    assert rig.request("GET", "/healthz")[:2] == (200, "ok\n")
    assert rig.request("GET", "/readyz")[:2] == (200, "last tick in sync\n")
    rig.ready.append((False, "revision abc failed: service:default/popcon/backend"))
    assert rig.request("GET", "/readyz")[:2] == (503, "revision abc failed: service:default/popcon/backend\n")
    rig.ready.append((True, ""))
    assert rig.request("GET", "/readyz?verbose=1")[:2] == (200, "ready\n")
    status, text, headers = rig.request("HEAD", "/healthz")
    assert (status, text, headers["Content-Length"]) == (200, "", "3")


def test_a_failing_readiness_check_is_not_ready() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("database password is hunter2")

    rig = make_rig()
    rig.listener.config.readiness = broken
    try:
        status, text, _ = rig.request("GET", "/readyz")
        assert status == 503 and "RuntimeError" in text and "hunter2" not in text
        assert rig.request("GET", "/healthz")[0] == 200
    finally:
        rig.listener.stop()


def test_metrics_serve_the_callable_and_the_delivery_counters(rig: Rig) -> None:
    rig.deliver(push_body())
    rig.deliver(push_body(), signature="sha256=" + "0" * 64)
    status, text, headers = rig.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "reconciler_ticks_total 3\n" in text
    assert 'reconciler_webhook_deliveries_total{outcome="accepted"} 1.0\n' in text
    assert 'reconciler_webhook_deliveries_total{outcome="unauthorized"} 1.0\n' in text


def test_unknown_paths_and_wrong_methods(rig: Rig) -> None:
    assert rig.request("GET", "/")[0] == 404
    assert rig.request("GET", "/webhook/../healthz")[0] == 404
    status, _, headers = rig.request("GET", "/webhook")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, headers = rig.request("POST", "/healthz", b"")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert rig.request("DELETE", "/metrics")[0] == 405


def test_an_exception_in_on_push_is_a_generic_500_and_the_delivery_can_be_retried() -> None:
    calls: list[Push] = []

    def flaky(push: Push) -> None:
        calls.append(push)
        if len(calls) == 1:
            raise RuntimeError("secret detail")

    rig = make_rig(on_push=flaky)
    try:
        assert rig.deliver(push_body(), delivery="r-1") == (500, "internal error\n")
        assert any("on_push failed: RuntimeError" in line for line in rig.logs)
        assert rig.deliver(push_body(), delivery="r-1")[0] == 202  # GitHub's redelivery reuses the id
        assert len(calls) == 2
    finally:
        rig.listener.stop()


def test_a_replayed_delivery_starts_no_second_tick(rig: Rig) -> None:
    assert rig.deliver(push_body(), delivery="same")[0] == 202
    assert rig.deliver(push_body(), delivery="same") == (202, "ignored: delivery already accepted\n")
    assert rig.deliver(push_body(), delivery="other")[0] == 202
    assert [p.delivery_id for p in rig.pushes] == ["same", "other"]


def test_logs_name_the_request_but_never_the_secret_signature_or_body(rig: Rig) -> None:
    body = push_body()
    rig.deliver(body, delivery="log-1")
    rig.deliver(body, signature=sign(b"guess", body))
    rig.request("GET", "/healthz?token=query-token-never-logged")
    lines = "\n".join(rig.logs)
    assert '"POST /webhook" 202 delivery=log-1' in lines
    assert '"POST /webhook" 401' in lines
    for secret_thing in (SECRET.decode(), sign(SECRET, body)[7:], sign(b"guess", body)[7:], MARKER, "query-token"):
        assert secret_thing not in lines


def test_stop_frees_the_port() -> None:
    rig = make_rig()
    host, port = rig.hostport
    with pytest.raises(ListenError, match="cannot listen"):
        Listener(f"{host}:{port}", secret=SECRET, branch="main", on_push=print, readiness=lambda: (True, "")).start()
    rig.listener.stop()
    rig.listener.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=2).close()
    again = Listener(f"{host}:{port}", secret=SECRET, branch="main", on_push=print, readiness=lambda: (True, "up"))
    with again:
        assert again.url == f"http://{host}:{port}"
        assert Rig(again).request("GET", "/readyz")[:2] == (200, "up\n")


def test_a_slow_client_does_not_block_others_and_times_out() -> None:
    rig = make_rig(timeout=1.0)
    try:
        slow = socket.create_connection(rig.hostport, timeout=10)
        body = push_body()
        head = (
            "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"
            f"X-Hub-Signature-256: {sign(SECRET, body)}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        slow.sendall(head.encode() + body[:10])  # then stalls in the middle of the body
        idle = socket.create_connection(rig.hostport, timeout=10)
        idle.sendall(b"GET /heal")  # stalls in the request line
        started = time.monotonic()
        assert rig.request("GET", "/healthz")[0] == 200
        assert time.monotonic() - started < 0.5
        answer = slow.recv(4096).decode()  # the listener gives up on the stalled body after its timeout
        assert answer.startswith("HTTP/1.0 408") and time.monotonic() - started < 5
        slow.close()
        idle.close()
        assert rig.pushes == []
    finally:
        rig.listener.stop()


def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    rig = make_rig(max_connections=1, timeout=1.0)
    try:
        hog = socket.create_connection(rig.hostport, timeout=10)
        hog.sendall(b"GET /healthz HTTP/1.1\r\n")  # holds the only slot until the timeout
        time.sleep(0.2)
        extra = socket.create_connection(rig.hostport, timeout=10)
        extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert extra.recv(4096) == b""  # closed unanswered
        extra.close()
        hog.close()
        deadline = time.monotonic() + 5
        while True:  # the slot comes back once the hog's thread ends
            try:
                if rig.request("GET", "/healthz")[0] == 200:
                    break
            except (ConnectionError, http.client.RemoteDisconnected):
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert any("too many connections" in line for line in rig.logs)
    finally:
        rig.listener.stop()


def test_concurrent_pushes_are_each_handled_once(rig: Rig) -> None:
    results: list[int] = []

    def one(i: int) -> None:
        results.append(rig.deliver(push_body(), delivery=f"c-{i}")[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 8
    assert sorted(p.delivery_id for p in rig.pushes) == sorted(f"c-{i}" for i in range(8))


@pytest.mark.parametrize(
    ("address", "expected"),
    [("127.0.0.1:9090", ("127.0.0.1", 9090)), ("9091", ("127.0.0.1", 9091)), ("[::1]:0", ("::1", 0))],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["", ":9090", "localhost:http", "127.0.0.1:70000", "127.0.0.1:"])
def test_parse_address_refuses(address: str) -> None:
    with pytest.raises(ListenError):
        parse_address(address)


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = Listener("[::1]:0", secret=SECRET, branch="main", on_push=print, readiness=lambda: (True, ""))
        listener.start()
    except ListenError:
        pytest.skip("::1 is not available here")
    try:
        assert listener.url.startswith("http://[::1]:")
        assert Rig(listener).request("GET", "/healthz")[0] == 200
    finally:
        listener.stop()


def test_a_client_that_sends_an_oversized_body_whole_still_reads_the_413() -> None:
    rig = make_rig(max_body=1024)
    try:
        for _ in range(3):
            body = b"x" * (4 << 20)
            assert rig.deliver(body)[0] == 413  # drained, not reset: the client gets the answer
        assert rig.pushes == []
    finally:
        rig.listener.stop()


def test_the_signed_client_delivers_a_push(rig: Rig) -> None:
    url = rig.listener.url + "/webhook"
    status, text = send_push(url, SECRET, branch="main", sha=SHA, repository="acme/envs", delivery_id="bench-1")
    assert (status, text) == (202, f"accepted: {SHA} on main\n")
    assert [(p.sha, p.repository, p.delivery_id) for p in rig.pushes] == [(SHA, "acme/envs", "bench-1")]
    assert send_push(url, b"wrong", branch="main", sha=SHA)[0] == 401
    assert send_push(url, SECRET, branch="other", sha=SHA)[0] == 202
    assert len(rig.pushes) == 1


def test_a_payload_cannot_forge_log_lines(rig: Rig) -> None:
    rig.deliver(push_body(ref="refs/heads/x\nFORGED 202 accepted"))
    assert rig.logs and all("\n" not in line for line in rig.logs)
    assert not any(line.startswith("FORGED") for line in rig.logs)
