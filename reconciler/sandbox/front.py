"""The sandbox's AWS endpoint: a front that forwards every request to moto, except that target health
comes from the sandbox's load balancers. Does I/O (HTTP, standard library only).

``python -m reconciler.sandbox.front --port P --upstream URL --declarations DIR``
(started by ``reconciler sandbox up`` on the AWS port, 4566, with moto behind
it on an internal port; its pidfile ``<state dir>/aws-front.pid``, stopped by
``down``) answers HTTP/1.1 with keep-alive, each connection in its own
thread, and forwards each request to moto as it came (method, path, headers,
body; hop-by-hop headers aside) and moto's answer as it came. One request is
answered differently: ELBv2 ``DescribeTargetHealth`` (the query protocol: a
form-encoded POST, or a GET, with ``Action=DescribeTargetHealth``) on a target
group that a load balancer of the sandbox declares it follows
(:mod:`.fleet.followed`): each target's ``TargetHealth`` is then what that
HAProxy sees (:mod:`.fleet.target_health`), as a real ALB would report it,
since moto calls a target ``healthy`` the moment it is registered. Every
other request, and every other target group, passes through unchanged; so
does the answer when the load balancer's admin socket does not answer.
``GET /_sandbox/aws-front`` tells the front from moto itself.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import sys
import time
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.asg import query, service
from reconciler.sandbox.fleet import followed, haproxy, target_health
from reconciler.sandbox.layout import HOST
from reconciler.sandbox.moto import FRONT_MARKER, FRONT_MODULE

MODULE = FRONT_MODULE  # in the front's command line (how its pidfile is checked)
MARKER_PATH = FRONT_MARKER
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "expect", "content-length"})  # fmt: skip
FORM = "application/x-www-form-urlencoded"


def log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", flush=True)


class Front(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, upstream: str, declarations: Path, state: Path | None = None,
                 replace_after: float = service.REPLACE_AFTER) -> None:  # fmt: skip
        super().__init__((HOST, port), Handler)
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = upstream
        self.upstream_address = (parsed.hostname or HOST, parsed.port or 80)
        self.declarations = declarations
        self.last_failure = ""
        self.autoscaling = service.AutoScaling(upstream, state, log, replace_after=replace_after)
        self.autoscaling.start()

    def server_close(self) -> None:
        super().server_close()
        self.autoscaling.close()


def target_health_request(method: str, path: str, content_type: str, body: bytes) -> tuple[str, list[str]] | None:
    """(target group ARN, the target ids asked) when the request is ELBv2 DescribeTargetHealth. Pure."""
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if method == "POST" and content_type.split(";")[0].strip().lower() == FORM:
        params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    if params.get("Action") != ["DescribeTargetHealth"] or "TargetGroupArn" not in params:
        return None
    asked = [v[0] for k, v in sorted(params.items()) if k.startswith("Targets.member.") and k.endswith(".Id")]
    return params["TargetGroupArn"][0], asked


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Front
    _upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers then body: no Nagle wait

    def log_message(self, format: str, *args: object) -> None:
        return None  # one line per request would drown the log; failures are logged

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _ask_moto(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):  # once more on a fresh connection if moto closed a kept one
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(*self.server.upstream_address, timeout=120)
            conn = self._upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        conn.putheader(key, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._upstream = None
                if attempt == 2:
                    raise
                continue
            if resp.will_close:
                conn.close()
                self._upstream = None
            return resp.status, resp.reason, resp.getheaders(), data
        raise AssertionError("unreachable")

    def _forward(self) -> None:
        if self.command == "GET" and self.path == MARKER_PATH:
            self._answer(200, "OK", [("Content-Type", "application/json")],
                         json.dumps({"front": MODULE, "upstream": self.server.upstream}).encode())  # fmt: skip
            return
        body = self._body()
        req = query.parse(self.command, self.path, dict(self.headers.items()), body)
        groups = self.server.autoscaling
        if req is None or not groups.handles(req):
            got = self._moto_or_502(body)
        elif req.service == query.AUTOSCALING and req.action in service.OWN:
            status, data = groups.own(req)
            self._answer(status, "OK" if status == 200 else "Bad Request", [("Content-Type", "text/xml")], data)
            return
        elif service.is_mutation(req):
            with groups.mutation(req) as outcome:
                got = self._moto_or_502(body)
                outcome.status = got[0] if got is not None else 0
        else:
            with groups.reading():
                got = self._moto_or_502(body)
        if got is None:
            return
        status, reason, headers, data = got
        if req is not None and status == 200:
            data = groups.described(req, data)
        asked = target_health_request(self.command, self.path, self.headers.get("Content-Type", ""), body)
        if asked is not None and status == 200:
            data = self._as_the_balancer_sees_it(data, *asked)
        self._answer(status, reason, headers, data)

    def _moto_or_502(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes] | None:
        """moto's answer; None when moto did not answer (a 502 has been sent)."""
        try:
            return self._ask_moto(body)
        except (OSError, http.client.HTTPException) as e:
            message = f"the sandbox's AWS front: moto at {self.server.upstream} does not answer ({e})\n"
            self._answer(502, "Bad Gateway", [("Content-Type", "text/plain")], message.encode())
            return None

    def _as_the_balancer_sees_it(self, data: bytes, arn: str, asked: Sequence[str]) -> bytes:
        found = followed.find(self.server.declarations, arn)
        if found is None:
            return data
        declaration, group = found
        try:
            servers = haproxy.Runtime(Path(declaration.admin_socket), timeout=2.0).servers(group.backend)
            rewritten = target_health.rewrite(data, group, servers, asked)
        except (ReconcilerError, ValueError, SyntaxError) as e:  # ParseError is a SyntaxError
            failure = f"target health of {arn} left as moto says: {e}"
            if failure != self.server.last_failure:
                log(failure)
            self.server.last_failure = failure
            return data
        self.server.last_failure = ""
        return rewritten

    def _answer(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response_only(status, reason)
        length = str(len(data))
        for key, value in headers:
            lowered = key.lower()
            if lowered == "content-length" and self.command == "HEAD":
                length = value  # the length a GET would have
            elif lowered not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="moto's URL (http://127.0.0.1:4567)")
    parser.add_argument("--declarations", type=Path, default=followed.DECLARATIONS)
    parser.add_argument("--state", type=Path, default=None, help="where Auto Scaling keeps what moto does not")
    args = parser.parse_args(argv)
    front = Front(args.port, args.upstream, args.declarations, args.state)
    log(f"AWS front: {HOST}:{args.port} -> {args.upstream}; target health from the load balancers "
        f"declared in {args.declarations}; Auto Scaling's own behaviour kept in {args.state or 'memory'}")  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        front.serve_forever()  # SIGTERM (``down``) ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
