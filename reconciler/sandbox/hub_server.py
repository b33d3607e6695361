"""The sandbox's hub: the local registry behind a token service, as Docker Hub serves images. Does I/O.

A read-only front on loopback (``python -m reconciler.sandbox.hub_server``, run by
:mod:`.hub`) that speaks Docker Hub's token flow, so that the reconciler's tag
resolution and the real engine's pulls are tested against it:

- ``/v2/...`` without a valid token answers 401 with ``WWW-Authenticate: Bearer
  realm="http://127.0.0.1:PORT/token",service="sandbox-hub",scope="repository:X:pull"``
  (``error="insufficient_scope"`` when a token lacks the repository);
- ``GET /token?service=...&scope=repository:X:pull`` issues a token: anonymous for public
  repositories, with Basic credentials for the private ones (``--private``); wrong
  credentials are 401 ``incorrect username or password``, like Docker Hub's; ``POST
  /token`` (the OAuth2 password grant Docker may use) answers the same as ``access_token``;
- with a token granting ``repository:X:pull``, GET and HEAD go through to the registry
  (``--upstream``); anything else is 405 (images are pushed to the registry itself).

Tokens are HMAC-signed (a key made at start) and expire after ``expires_in`` seconds.
The password comes from the environment (``RECONCILER_HUB_PASSWORD``), never the command line.
Why a front and not Distribution's own ``auth: token``: that needs an x509-signed JWT
issuer, a second registry and its config, where this is one small process with the
private/public policy and the error answers of Docker Hub in plain sight.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN_LIFETIME = 300  # seconds, as Docker Hub's
PASSWORD_VARIABLE = "RECONCILER_HUB_PASSWORD"
SIGNATURE = "X-Reconciler-Sandbox"  # marks the hub's answers (what `sandbox status` looks for)
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate"}


class Policy:
    """Who may pull what, and the tokens that say so."""

    def __init__(self, username: str, password: str, private: tuple[str, ...]) -> None:
        self.username, self.password, self.private = username, password, private
        self.key = secrets.token_bytes(32)

    def is_private(self, repository: str) -> bool:
        return any(repository == p or repository.startswith(p.rstrip("/") + "/") for p in self.private)

    def grant(self, scopes: list[str], authenticated: bool) -> list[str]:
        """The pull scopes granted: every one when authenticated, the public ones otherwise."""
        granted = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and "pull" in actions.split(",") and (authenticated or not self.is_private(name)):
                granted.append(f"repository:{name}:pull")
        return granted

    def token(self, access: list[str]) -> str:
        body = base64.urlsafe_b64encode(json.dumps({"access": access, "exp": time.time() + TOKEN_LIFETIME}).encode())
        return body.decode() + "." + hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def access(self, token: str) -> list[str] | None:
        """The scopes of a valid, unexpired token; None otherwise."""
        body, _, signature = token.partition(".")
        expected = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return None
        claims = json.loads(base64.urlsafe_b64decode(body))
        return list(claims["access"]) if claims["exp"] > time.time() else None

    def check_basic(self, header: str) -> bool | None:
        """None: no credentials sent; else whether they are the account's."""
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(password, self.password)


def handler(policy: Policy, upstream: str, service: str) -> type[BaseHTTPRequestHandler]:
    class Hub(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", SIGNATURE: "hub", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _issue(self, scopes: list[str], basic: bool | None, field: str) -> None:
            if basic is False:
                self._json(401, {"details": "incorrect username or password"})
                return
            token = policy.token(policy.grant(scopes, authenticated=basic is True))
            self._json(200, {field: token, "expires_in": TOKEN_LIFETIME, "issued_at": _now()})

        def _realm(self) -> str:
            return f"http://{self.headers.get('Host', '')}/token"

        def _challenge(self, repository: str | None, insufficient: bool) -> None:
            value = f'Bearer realm="{self._realm()}",service="{service}"'
            if repository is not None:
                value += f',scope="repository:{repository}:pull"'
            if insufficient:
                value += ',error="insufficient_scope"'
            errors = [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": repository}]
            self._json(
                401, {"errors": errors}, {"WWW-Authenticate": value, "Docker-Distribution-Api-Version": "registry/2.0"}
            )

        def do_POST(self) -> None:  # the OAuth2 password grant of the token service
            if urlparse(self.path).path != "/token":
                self._json(405, {"errors": [{"code": "UNSUPPORTED", "message": "the hub is read-only"}]})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            user, password = form.get("username", [""])[0], form.get("password", [""])[0]
            basic = (
                None if not user else hmac.compare_digest(f"{user}:{password}", f"{policy.username}:{policy.password}")
            )
            scopes = [s for value in form.get("scope", []) for s in value.split()]
            self._issue(scopes, basic, "access_token")

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._json(405, {"errors": [{"code": "UNSUPPORTED", "message": "the hub is read-only"}]})

        do_PATCH = do_DELETE = do_PUT

        def _serve(self) -> None:
            url = urlparse(self.path)
            if url.path == "/token":
                query = parse_qs(url.query)
                scopes = [s for value in query.get("scope", []) for s in value.split()]
                self._issue(scopes, policy.check_basic(self.headers.get("Authorization", "")), "token")
                return
            if not url.path.startswith("/v2/"):
                self._json(404, {"errors": [{"code": "NOT_FOUND", "message": "not a registry path"}]})
                return
            auth = self.headers.get("Authorization", "")
            access = policy.access(auth[7:]) if auth.lower().startswith("bearer ") else None
            match = _REPO_PATH.match(url.path)
            repository = match["name"] if match else None
            if access is None:
                self._challenge(repository, insufficient=False)
            elif repository is not None and f"repository:{repository}:pull" not in access:
                self._challenge(repository, insufficient=True)
            else:
                self._proxy()

        def _proxy(self) -> None:
            conn = http.client.HTTPConnection(upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
                conn.request(self.command, self.path, headers=headers)
                resp = conn.getresponse()
                body = resp.read() if resp.getheader("Content-Length") is None else None
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_BY_HOP and not (body is not None and key.lower() == "content-length"):
                        self.send_header(key, value)
                if body is not None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if body is not None:
                    self.wfile.write(body)
                    return
                while chunk := resp.read(1 << 16):
                    self.wfile.write(chunk)
            finally:
                conn.close()

    return Hub


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def main() -> None:
    parser = argparse.ArgumentParser(description="the sandbox's hub: a registry behind a token service")
    parser.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    parser.add_argument("--upstream", required=True, help="the registry, HOST:PORT (plain http)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--private", action="append", default=[], help="a private repository (or namespace/)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    policy = Policy(args.username, os.environ.get(PASSWORD_VARIABLE, ""), tuple(args.private))
    server = ThreadingHTTPServer((host, int(port)), handler(policy, args.upstream, args.service))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
