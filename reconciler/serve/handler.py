"""The HTTP request handler behind :class:`reconciler.serve.Listener`. Does I/O (a socket).

Guarantees, per request:

- ``on_push`` is called at most once, and only for a ``POST`` to ``/webhook``
  or ``/hooks/github`` whose body (at most ``max_body`` bytes, announced by
  ``Content-Length``) carries a valid ``X-Hub-Signature-256`` for the
  configured, non-empty secret, and is a push to the watched branch. Every
  other request changes nothing.
- The body is read only once the signature header is well formed and the
  announced length is acceptable, and within ``timeout`` seconds overall.
- Log lines name the client, method, path, status and delivery id, never a
  header value other than the delivery id, nor the body, nor the secret.
- An exception in a callback is answered 500 with a generic message and logged.
- ``/``, ``/api/status`` and ``/metrics`` answer 401 (with ``WWW-Authenticate``) unless the
  request's ``Authorization`` satisfies the listener's :class:`~reconciler.serve.auth.Auth`
  (none on loopback by default); ``/healthz``, ``/readyz`` and the signed webhook never ask.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from reconciler.serve.auth import Auth
from reconciler.serve.metrics import WebhookCounters
from reconciler.serve.webhook import (
    SIGNATURE_HEADER,
    BadPayload,
    Deliveries,
    Ignored,
    Pong,
    Push,
    UnsupportedType,
    decide,
    payload,
    verify,
    well_formed,
)

GET = frozenset({"GET", "HEAD"})
ROUTES: dict[str, frozenset[str]] = {
    "/": GET,
    "/api/status": GET,
    "/healthz": GET,
    "/readyz": GET,
    "/metrics": GET,
    "/webhook": frozenset({"POST"}),
    "/hooks/github": frozenset({"POST"}),
}
PROTECTED = frozenset({"/", "/api/status", "/metrics"})  # behind the listener's authentication, if any
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json"
PAGE_HEADERS = {  # the page has no script, no frame, no outside resource
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
LINGER_SECONDS = 1.0  # how long an unread body is drained after an early answer (so the answer is not reset)


@dataclass
class Config:
    """What the handler needs from its listener (shared by all request threads)."""

    secret: bytes | None
    branch: str
    repository: str | None
    on_push: Callable[[Push], None]
    readiness: Callable[[], tuple[bool, str]]
    metrics: Callable[[], str] | None
    log: Callable[[str], None]
    max_body: int
    timeout: float
    deliveries: Deliveries
    counters: WebhookCounters
    auth: Auth = field(default_factory=Auth)
    page: Callable[[int | None], str] | None = None  # the status page (history entries asked, or the default)
    status: Callable[[int | None], str] | None = None  # the JSON of /api/status


def _history(query: str) -> int | None:
    """``?history=N`` (0 to 1000), else None (the default)."""
    values = parse_qs(query).get("history", [])
    if values and values[-1].isascii() and values[-1].isdigit():
        return min(int(values[-1]), 1000)
    return None


def _printable(text: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


class Handler(BaseHTTPRequestHandler):
    """One connection, one request (HTTP/1.0, ``Connection: close``)."""

    config: Config  # set on the subclass the listener creates
    server_version = "reconciler"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.config.timeout)  # a slow client holds only its own thread
        self.delivery = ""
        self.unread = False

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: :meth:`_answer` logs one line per request without headers."""

    def log_message(self, format: str, *args: object) -> None:  # errors of http.server itself
        self.config.log(f"{self.client_address[0]} {_printable(format % args)}")

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        allowed = ROUTES.get(path)
        config = self.config
        missing = (path == "/" and config.page is None) or (path == "/api/status" and config.status is None)
        if allowed is None or missing:
            return self._answer(404, "not found")
        if self.command not in allowed:
            return self._answer(405, "method not allowed", headers={"Allow": ", ".join(sorted(allowed))})
        if path in PROTECTED and not config.auth.allows(self.headers.get("Authorization")):
            return self._answer(401, "unauthorized", headers={"WWW-Authenticate": config.auth.challenge()},
                                note="missing or wrong credentials")  # fmt: skip
        try:
            if path == "/" and config.page is not None:
                self._answer(200, config.page(_history(parts.query)), content_type=HTML, headers=PAGE_HEADERS)
            elif path == "/api/status" and config.status is not None:
                self._answer(200, config.status(_history(parts.query)), content_type=JSON)
            elif path == "/healthz":
                self._answer(200, "ok")
            elif path == "/readyz":
                self._readyz()
            elif path == "/metrics":
                text = self.config.metrics() if self.config.metrics else ""
                text += ("\n" if text and not text.endswith("\n") else "") + self.config.counters.render()
                self._answer(200, text, content_type=PROMETHEUS)
            else:
                self.unread = True
                self._webhook()
        except (ConnectionError, TimeoutError):
            raise  # the client went away: nothing to answer (the server logs one line)
        except Exception as e:  # a callback failed: answer generically, log the type
            self._answer(500, "internal error", note=f"{path} failed: {type(e).__name__}: {_printable(str(e))}")

    def _readyz(self) -> None:
        try:
            ready, message = self.config.readiness()
        except Exception as e:
            ready, message = False, f"readiness check failed ({type(e).__name__})"
        self._answer(200 if ready else 503, message or ("ready" if ready else "not ready"))

    def _webhook(self) -> None:
        config = self.config
        self.delivery = _printable(self.headers.get("X-GitHub-Delivery", ""), 100)
        signature = self.headers.get(SIGNATURE_HEADER)
        if not config.secret:
            return self._deny("unauthorized", "no webhook secret is configured")
        if not well_formed(signature):
            return self._deny(f"unauthorized: missing or malformed {SIGNATURE_HEADER} (want sha256=<hex>)")
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            return self._refuse(411, "length required: send Content-Length (no chunked bodies)")
        if len(self.headers.get_all("Content-Length", [])) != 1 or not (length.isascii() and length.isdigit()):
            return self._refuse(400, "bad Content-Length")
        if int(length) > config.max_body:
            return self._refuse(413, f"body too large (limit {config.max_body} bytes)")
        body = self._read(int(length))
        if body is None:
            return
        if not verify(config.secret, body, signature):
            return self._deny("unauthorized: signature does not match the body")
        try:
            data = payload(self.headers.get("Content-Type"), body)
            decision = decide(
                self.headers.get("X-GitHub-Event"),
                data,
                branch=config.branch,
                delivery_id=self.delivery,
                repository=config.repository,
            )
        except BadPayload as e:
            return self._refuse(415 if isinstance(e, UnsupportedType) else 400, str(e))
        if isinstance(decision, Pong):
            return self._answer(200, "pong", outcome="ping")
        if isinstance(decision, Ignored):
            return self._answer(202, f"ignored: {decision.reason}", outcome="ignored", note=decision.reason)
        if not config.deliveries.claim(decision.delivery_id):
            return self._answer(202, "ignored: delivery already accepted", outcome="duplicate")
        try:
            config.on_push(decision)
        except Exception as e:
            config.deliveries.release(decision.delivery_id)
            note = f"on_push failed: {type(e).__name__}: {_printable(str(e))}"
            return self._answer(500, "internal error", outcome="error", note=note)
        sha = decision.sha
        self._answer(202, f"accepted: {sha} on {decision.branch}", outcome="accepted", note=f"sha={sha}")

    def _read(self, length: int) -> bytes | None:
        """Exactly ``length`` bytes within ``timeout`` seconds overall, or None once answered (400/408)."""
        deadline = time.monotonic() + self.config.timeout
        chunks: list[bytes] = []
        remaining = length
        try:
            while remaining > 0:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = self.rfile.read1(min(remaining, 65536))
                if not chunk:
                    self._refuse(400, "body shorter than Content-Length")
                    return None
                chunks.append(chunk)
                remaining -= len(chunk)
        except (TimeoutError, ConnectionError):
            self._refuse(408, "request body timed out")
            return None
        self.unread = False
        return b"".join(chunks)

    def _deny(self, message: str, note: str = "") -> None:
        self._answer(401, message, outcome="unauthorized", note=note)

    def _refuse(self, status: int, message: str) -> None:
        self._answer(status, message, outcome="invalid")

    def _answer(
        self,
        status: int,
        text: str,
        *,
        content_type: str = TEXT,
        headers: dict[str, str] | None = None,
        outcome: str = "",
        note: str = "",
    ) -> None:
        if outcome:  # counted and logged before answering, so a client that got the answer sees them
            self.config.counters.inc(outcome)
        path = _printable(urlsplit(self.path).path)  # not the query: it could carry a token
        line = f'{self.client_address[0]} "{self.command} {path}" {status}'
        line += (f" delivery={self.delivery}" if self.delivery else "") + (f" {note}" if note else "")
        self.config.log(_printable(line, 1000))  # one line: no newline from a payload can forge another
        body = text.encode("utf-8") if text.endswith("\n") else (text + "\n").encode("utf-8")
        self.send_response(status)
        for name, value in {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Connection": "close",
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if self.unread:
            self._linger()

    def _linger(self) -> None:
        """Drain (and drop) what the client still sends for a moment, so it reads the answer before the close."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass
