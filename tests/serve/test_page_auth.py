"""The status page on the listener over a real socket: what it serves, bearer and basic authentication,
and the refusal to expose it off loopback without authentication (the listener and the CLI)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.render.page import render_page, status_document, status_json
from reconciler.serve import Auth, Listener, ListenError, Scheme
from serve.pagekit import schema_errors, view

TOKEN = "t0ken-" + os.urandom(6).hex()


class Served:
    def __init__(self, auth: Auth | None = None, address: str = "127.0.0.1:0", insecure: bool = False) -> None:
        self.logs: list[str] = []
        self.asked: list[int | None] = []

        def page(history: int | None) -> str:
            self.asked.append(history)
            return render_page(status_document(view()))

        def status(history: int | None) -> str:
            self.asked.append(history)
            return status_json(view())

        self.listener = Listener(address, secret=None, branch="main", on_push=lambda _p: None,
                                 readiness=lambda: (True, "ok"), metrics=lambda: "# metrics\n", log=self.logs.append,
                                 auth=auth, insecure=insecure, page=page, status=status).start()  # fmt: skip

    def get(self, path: str, **headers: str) -> tuple[int, str, Any]:
        parts = urlsplit(self.listener.url)
        port = parts.port or 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode(), response.headers
        finally:
            conn.close()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.listener.stop()


def test_loopback_serves_the_page_and_the_json_without_asking(served: Served) -> None:
    status, body, headers = served.get("/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert "<h1>Reconciler status</h1>" in body
    status, body, headers = served.get("/api/status?history=3")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert schema_errors(json.loads(body)) == []
    assert served.asked == [None, 3]
    assert served.get("/api/status?history=5000")[0] == 200 and served.asked[-1] == 1000


def test_without_a_board_the_page_is_not_there() -> None:
    listener = Listener("127.0.0.1:0", secret=None, branch="main", on_push=lambda _p: None,
                        readiness=lambda: (True, "ok"), log=lambda _l: None).start()  # fmt: skip
    try:
        port = urlsplit(listener.url).port or 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        listener.stop()


@pytest.mark.parametrize("path", ["/", "/api/status", "/metrics"])
def test_a_bearer_token_guards_the_page_the_json_and_the_metrics(path: str) -> None:
    s = Served(Auth(Scheme.BEARER, TOKEN.encode()))
    try:
        status, _, headers = s.get(path)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="reconciler"'
        assert s.get(path, Authorization=f"Bearer {TOKEN}x")[0] == 401
        assert s.get(path, Authorization=f"Bearer {TOKEN[:-1]}")[0] == 401
        assert s.get(path, Authorization=TOKEN)[0] == 401
        assert s.get(path, Authorization=f"Bearer {TOKEN}")[0] == 200
        assert s.get(path, Authorization=f"bearer {TOKEN}")[0] == 200  # the scheme is case-insensitive
        assert s.get("/healthz")[0] == 200 and s.get("/readyz")[0] == 200  # probes never ask
        assert not any(TOKEN in line for line in s.logs)
        assert any('"GET ' + path + '" 401' in line for line in s.logs)
    finally:
        s.listener.stop()


def test_basic_authentication_checks_the_user_and_the_password() -> None:
    s = Served(Auth(Scheme.BASIC, TOKEN.encode(), user="ops"))
    try:
        def basic(user: str, password: str) -> str:
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        status, _, headers = s.get("/")
        assert status == 401 and headers["WWW-Authenticate"].startswith('Basic realm="reconciler"')
        assert s.get("/", Authorization=basic("ops", TOKEN))[0] == 200
        assert s.get("/", Authorization=basic("root", TOKEN))[0] == 401
        assert s.get("/", Authorization=basic("ops", "guess"))[0] == 401
        assert s.get("/", Authorization=f"Bearer {TOKEN}")[0] == 401
    finally:
        s.listener.stop()


def test_an_exposed_address_needs_authentication_or_an_explicit_insecure() -> None:
    with pytest.raises(ListenError, match=r"refusing to serve the status page and /metrics on 0\.0\.0\.0"):
        Served(address="0.0.0.0:0")
    for served in (Served(address="0.0.0.0:0", insecure=True),
                   Served(Auth(Scheme.BEARER, TOKEN.encode()), address="0.0.0.0:0")):  # fmt: skip
        try:
            assert served.get("/healthz")[0] == 200
        finally:
            served.listener.stop()
    with pytest.raises(ValueError):
        Auth(Scheme.BEARER, b"")


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", "run", "--repo", str(tmp_path / "nowhere"), "--state-dir",
            str(tmp_path / "state"), "--log-format", "text", *args]  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k != "RECONCILER_LISTEN_TOKEN"} | (env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=environ, check=False)


def test_the_cli_refuses_before_it_starts(tmp_path: Path) -> None:
    exposed = _run(tmp_path, "--listen", "0.0.0.0:0")
    assert exposed.returncode == 1 and "--listen-insecure" in exposed.stderr and "Traceback" not in exposed.stderr
    no_token = _run(tmp_path, "--listen", "127.0.0.1:0", "--listen-auth", "bearer")
    assert no_token.returncode == 1 and "RECONCILER_LISTEN_TOKEN" in no_token.stderr
    assert "Traceback" not in no_token.stderr
    named = _run(tmp_path, "--listen", "127.0.0.1:0", "--listen-auth", "basic", "--listen-secret-env", "MY_PASS")
    assert named.returncode == 1 and "MY_PASS" in named.stderr


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["", "Bearer ", "Basic ", "bearer  "]))
def test_no_other_header_passes(text: str, prefix: str) -> None:
    bearer, basic = Auth(Scheme.BEARER, TOKEN.encode()), Auth(Scheme.BASIC, TOKEN.encode(), user="ops")
    header = prefix + text  # the token is random: no generated header holds it
    assert not bearer.allows(header) and not basic.allows(header)
    assert not bearer.allows(f"Bearer {TOKEN}{text}") or text.strip() == ""
    assert Auth().allows(header)
