"""drivers/registry: credentials that stay valid over hours of reconciling. Bearer tokens expire
(``expires_in``, 60 s by default) and are refetched, a 401 on a cached token triggers exactly one
re-auth, ECR logins are renewed before ``expiresAt``. Fake clocks: nothing sleeps."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from reconciler.core.errors import PermanentError
from reconciler.core.model import Sensitive
from reconciler.drivers.readonly import ReadOnlySession
from reconciler.drivers.registry.auth import RegistryAuth, cached_logins
from reconciler.drivers.registry.ecr import EcrRegistry
from reconciler.drivers.registry.oci import DEFAULT_TOKEN_LIFETIME, OciRegistry, token_expiry

DIGEST = "sha256:" + "ef" * 32


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Server:
    """A registry that accepts only the tokens its token service handed out and has not revoked."""

    def __init__(self, expires_in: int | None = None) -> None:
        self.valid: set[str] = set()
        self.fetches = 0
        self.heads: list[int] = []  # status of each manifest HEAD
        self.expires_in = expires_in
        self.accept = True
        counter = itertools.count(1)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.fetches += 1
                token = f"tok-{next(counter)}"
                if outer.accept:
                    outer.valid.add(token)
                body: dict[str, Any] = {"token": token}
                if outer.expires_in is not None:
                    body["expires_in"] = outer.expires_in
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                auth = self.headers.get("Authorization", "")
                if auth.removeprefix("Bearer ") not in outer.valid:
                    outer.heads.append(401)
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate", f'Bearer realm="http://{self.headers["Host"]}/token",service="t"'
                    )
                    self.end_headers()
                    return
                outer.heads.append(200)
                self.send_response(200)
                self.send_header("Docker-Content-Digest", DIGEST)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with ReadOnlySession() as s:  # token fetches are GETs: the read-only session is enough
        yield s


def test_token_expiry_defaults_and_issued_at() -> None:
    assert token_expiry({}, 100.0) == pytest.approx(100.0 + DEFAULT_TOKEN_LIFETIME - 5)
    assert token_expiry({"expires_in": 300}, 100.0) == pytest.approx(395.0)
    assert token_expiry({"expires_in": "junk"}, 100.0) == pytest.approx(155.0)
    now = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    issued = "2030-01-01T12:00:00Z"  # 30 s before our clock: the lifetime counts from issue
    assert token_expiry({"expires_in": 300, "issued_at": issued}, now) == pytest.approx(now - 30 + 295)
    # an issued_at that disagrees with our clock by more than the lifetime is ignored
    assert token_expiry({"expires_in": 60, "issued_at": "2000-01-01T00:00:00Z"}, now) == pytest.approx(now + 55)


def test_cached_token_is_reused_until_it_expires(server: Server, http: requests.Session) -> None:
    clock = FakeClock()
    reg = OciRegistry(http, server.host, insecure=True, clock=clock)
    assert reg.resolve("lib/app", ["1", "2"]) == {"1": DIGEST, "2": DIGEST}
    assert server.fetches == 1 and server.heads == [401, 200, 200]
    clock.now += 30
    assert reg.digest("lib/app", "1") == DIGEST
    assert server.fetches == 1 and server.heads[-1] == 200  # still valid: reused
    clock.now += 30  # 60 s: the default lifetime (no expires_in) is over
    server.heads.clear()
    assert reg.digest("lib/app", "1") == DIGEST
    assert server.fetches == 2
    assert server.heads == [401, 200]  # the expired token is not sent; the challenge gives a new one


def test_expires_in_is_honoured(http: requests.Session) -> None:
    server = Server(expires_in=600)
    try:
        clock = FakeClock()
        reg = OciRegistry(http, server.host, insecure=True, clock=clock)
        reg.digest("lib/app", "1")
        clock.now += 500
        reg.digest("lib/app", "1")
        assert server.fetches == 1
        clock.now += 100
        reg.digest("lib/app", "1")
        assert server.fetches == 2
    finally:
        server.close()


def test_401_on_a_cached_token_reauthenticates_once(server: Server, http: requests.Session) -> None:
    reg = OciRegistry(http, server.host, insecure=True, clock=FakeClock())
    reg.digest("lib/app", "1")
    server.valid.clear()  # the registry revoked the token (restart, key rotation)
    server.heads.clear()
    assert reg.digest("lib/app", "1") == DIGEST
    assert server.fetches == 2 and server.heads == [401, 200]
    # a token service whose tokens the registry refuses: one retry, then a permanent error
    server.valid.clear()
    server.accept = False
    server.heads.clear()
    with pytest.raises(PermanentError, match=r"access to lib/app:1 denied \(HTTP 401\)"):
        reg.digest("lib/app", "1")
    assert server.fetches == 3 and server.heads == [401, 401]


def auth(password: str, expires_at: float | None) -> RegistryAuth:
    return RegistryAuth("AWS", Sensitive(password), "https://r", expires_at=expires_at)


def test_cached_logins_renew_before_expiry() -> None:
    clock = FakeClock(0.0)
    issued: list[RegistryAuth] = []

    def login() -> RegistryAuth:
        issued.append(auth(f"pw{len(issued)}", clock.now + 12 * 3600))
        return issued[-1]

    auth_for = cached_logins({"r": login}, clock=clock, margin=300)
    first = auth_for("r")
    clock.now = 12 * 3600 - 301
    assert auth_for("r") is first and len(issued) == 1
    clock.now = 12 * 3600 - 300  # within the margin: renewed before ECR would refuse it
    second = auth_for("r")
    assert second is not first and len(issued) == 2
    assert auth_for("other") is None


def test_cached_logins_never_expiring_and_already_expired() -> None:
    clock = FakeClock(0.0)
    calls = {"forever": 0, "stale": 0}

    def forever() -> RegistryAuth:
        calls["forever"] += 1
        return auth("x", None)

    def stale() -> RegistryAuth:  # moto answers expiresAt 2015-01-01
        calls["stale"] += 1
        return auth("y", datetime(2015, 1, 1, tzinfo=UTC).timestamp())

    clock.now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    auth_for = cached_logins({"f": forever, "s": stale}, clock=clock, margin=300)
    for _ in range(3):
        auth_for("f")
        auth_for("s")
    assert calls == {"forever": 1, "stale": 1}
    clock.now += 300  # a stale login is kept `margin` seconds, then tried again
    auth_for("s")
    assert calls["stale"] == 2


class FakeEcr:
    """GetAuthorizationToken answering 12 hours from the fake clock, as ECR does."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0

    def get_authorization_token(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return {
            "authorizationData": [
                {
                    "authorizationToken": base64.b64encode(f"AWS:pw{self.calls}".encode()).decode(),
                    "proxyEndpoint": "https://1.dkr.ecr.us-east-1.amazonaws.com",
                    "expiresAt": datetime.fromtimestamp(self.clock.now + 43200, tz=UTC),
                }
            ]
        }


def test_ecr_login_carries_its_expiry_and_is_renewed() -> None:
    clock = FakeClock()
    ecr = FakeEcr(clock)
    registry = EcrRegistry(ecr)  # type: ignore[arg-type]
    login = registry.login()
    assert login.expires_at == pytest.approx(clock.now + 43200)
    auth_for = cached_logins({"1.dkr": registry.login}, clock=clock)
    auth_for("1.dkr")
    clock.now += 43200 - 100
    renewed = auth_for("1.dkr")
    assert renewed is not None and renewed.password.reveal() == "pw3" and ecr.calls == 3
