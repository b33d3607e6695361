"""A Docker engine that answers with an error: a real HTTP server on loopback for the tests of
how the reconciler reports an engine that is reachable but failing (HTTP 5xx), as opposed to one
it cannot connect to. Every request gets ``status`` and Docker's error body ``{"message": ...}``;
with ``version`` set, ``GET /version`` answers like a healthy engine first."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class BrokenEngine:
    """``with BrokenEngine(500, "engine broke") as engine:`` -> ``engine.url`` (tcp://127.0.0.1:PORT)."""

    def __init__(self, status: int, message: str, *, version: str | None = None) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.requests.append(f"{self.command} {self.path}")
                healthy = version is not None and self.path.rstrip("/").endswith("/version")
                payload = {"ApiVersion": version, "Version": "0"} if healthy else {"message": message}
                body = json.dumps(payload).encode()
                self.send_response(200 if healthy else status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"tcp://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> BrokenEngine:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
