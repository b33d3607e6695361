"""The reconciler's HTTP listener: the status page, signed push webhooks, ``/healthz``, ``/readyz``,
``/metrics``. Does I/O.

A :class:`Listener` serves, on a ``ThreadingHTTPServer`` in a background thread:

========================  ======  ===================================================
``/``                     GET     ``page()``: the status page (HTML), when given
``/api/status``           GET     ``status()``: its JSON (``specs/status.schema.json``)
``/webhook``              POST    GitHub-style push events (``/hooks/github`` too):
                                  401 unless ``X-Hub-Signature-256`` is valid; 202
                                  and ``on_push(Push)`` for a push to ``branch``;
                                  202 "ignored: <why>" for anything else; 200 ``pong``
``/healthz``              GET     200 ``ok`` while the process serves
``/readyz``               GET     200 or 503 with ``readiness()``'s message
``/metrics``              GET     ``metrics()`` + the listener's own delivery counters
========================  ======  ===================================================

Unknown paths get 404, other methods 405. ``on_push`` runs on the request's
thread and must be quick (set an event). Each connection has its own thread,
a socket timeout and an overall body deadline, so a slow client delays nobody
else; at most ``max_connections`` are served at once (more are closed at once).

The default address is loopback. ``/``, ``/api/status`` and ``/metrics`` ask for
``auth`` (a bearer token or basic authentication, :mod:`.auth`) when it is given; an
address other than loopback without it is refused unless ``insecure``. Exposing the
listener (to GitHub, to a browser elsewhere) needs a reverse proxy terminating TLS in
front of it: it speaks plain HTTP, and neither the signature nor a token hides what
it carries.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.serve.auth import Auth, exposure_problem
from reconciler.serve.handler import Config, Handler
from reconciler.serve.metrics import WebhookCounters
from reconciler.serve.webhook import Deliveries, Push

DEFAULT_ADDRESS = "127.0.0.1:9090"
MAX_BODY = 1 << 20  # 1 MiB; GitHub caps payloads at 25 MB, a push of 20 commits is far below 1 MiB
_logger = logging.getLogger("reconciler.serve")


class ListenError(ReconcilerError):
    """The listener's address is invalid or cannot be bound."""


def parse_address(address: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare ``port`` (loopback) -> (host, port); port 0 picks a free one."""
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        host = "127.0.0.1"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ListenError(f"invalid listen address {address!r}: want HOST:PORT, e.g. {DEFAULT_ADDRESS}")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[Handler], max_connections: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(max_connections)
        self._log = handler.config.log
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (it can take seconds)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # too many connections: close this one at once
            self._log(f"{client_address[0]} refused: too many connections")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection failed outside the handler's own answers (reset, timeout): one line, no traceback."""
        self._log(f"{client_address[0]} connection error")


class Listener:
    """The HTTP listener; ``start()`` binds and serves in a thread, ``stop()`` closes it.

    ``secret`` authenticates webhooks (None or empty: every webhook gets 401).
    ``branch`` is the watched branch; ``repository`` (``owner/name``), when
    given, ignores pushes to other repositories. ``readiness()`` returns
    ``(ready, message)``; ``metrics()`` returns Prometheus text. ``log``
    receives one line per request (default: the ``reconciler.serve`` logger).
    ``replay_window`` seconds: an accepted delivery id seen again within it
    starts nothing (0 disables; GitHub's "Redeliver" reuses the id).
    ``page(history)`` and ``status(history)`` render the status page and its JSON
    (``history``: the entries asked with ``?history=N``, None for the default); ``auth``
    protects them and ``/metrics``; ``insecure`` allows a non-loopback address without it.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        secret: bytes | None,
        branch: str,
        on_push: Callable[[Push], None],
        readiness: Callable[[], tuple[bool, str]],
        metrics: Callable[[], str] | None = None,
        repository: str | None = None,
        log: Callable[[str], None] | None = None,
        max_body: int = MAX_BODY,
        timeout: float = 5.0,
        max_connections: int = 64,
        replay_window: float = 60.0,
        auth: Auth | None = None,
        insecure: bool = False,
        page: Callable[[int | None], str] | None = None,
        status: Callable[[int | None], str] | None = None,
    ) -> None:
        self._address = parse_address(address)
        problem = exposure_problem(self._address[0], auth or Auth(), insecure)
        if problem is not None:
            raise ListenError(problem)
        counters = WebhookCounters()
        self.config = Config(
            secret=secret,
            branch=branch,
            repository=repository,
            on_push=on_push,
            readiness=readiness,
            metrics=metrics,
            log=log or _logger.info,
            max_body=max_body,
            timeout=timeout,
            deliveries=Deliveries(replay_window),
            counters=counters,
            auth=auth or Auth(),
            page=page,
            status=status,
        )
        self._max_connections = max_connections
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (the real port when 0 was asked for)."""
        if self._server is None:
            raise ListenError("the listener is not started")
        host, port = self._server.server_address[:2]
        return f"http://[{host!s}]:{port}" if ":" in str(host) else f"http://{host!s}:{port}"

    def start(self) -> Listener:
        """Bind and serve in a daemon thread; raises :class:`ListenError` when the address is taken."""
        with self._lock:
            if self._server is not None:
                raise ListenError("the listener is already started")
            handler = type("BoundHandler", (Handler,), {"config": self.config})
            try:
                self._server = _Server(self._address, handler, self._max_connections)
            except OSError as e:
                host, port = self._address
                raise ListenError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="reconciler-listener",
                daemon=True,
            )
            self._thread.start()
            self.config.log(f"listening on {self.url}")
            return self

    def stop(self) -> None:
        """Stop accepting, join the serving thread and close the socket (idempotent).

        Requests already being handled finish on their own threads (bounded by
        the timeout); the port is free for a new bind when this returns.
        """
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.server_close()

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
