"""A local GitHub REST API on loopback, built from GitHub's own OpenAPI description.

Not a hand-written fake of our client: every request is checked by openapi-core against the
operation GitHub's official description (the npm package ``@octokit/openapi``, installed by
``scripts/install-npm-tools.sh``) gives for its method and path (path and query parameters,
content type, request body), and every answer is built from that description's own example
for the operation and checked against the operation's response schema before it is sent.
What the description cannot say is added from GitHub's documented behaviour: the token is
checked (401 ``Bad credentials``), a body over 65,536 characters is refused (422), pages follow
``per_page``/``page`` with a ``Link`` header, and ``GET`` of a GitHub Enterprise Server's
``/api/v3`` prefix is served too.

Issue comments are kept in memory. :meth:`GitHubAPI.fail` makes the next requests answer an
error as GitHub does (401, 403, 404, 422, 5xx, primary and secondary rate limits, 429).
``requests`` records every request (method, path, body, headers); ``violations`` every request
or answer that does not match the description (a test asserts it stays empty).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REPO = Path(__file__).resolve().parents[2]
DESCRIPTION = REPO / ".cache/npm/node_modules/@octokit/openapi/generated/api.github.com.json"
HOST_URL = "https://api.github.com"  # the description's server
BODY_LIMIT = 65_536
GHES_PREFIX = "/api/v3"

_LIST_OR_CREATE = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/comments$")
_ONE = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/comments/(?P<id>\d+)$")


def load_description() -> dict[str, Any]:
    """GitHub's OpenAPI description (installed through npm when missing, as `make test` does)."""
    if not DESCRIPTION.is_file():
        subprocess.run([str(REPO / "scripts/install-npm-tools.sh")], check=True)
    return dict(json.loads(DESCRIPTION.read_text()))


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]


@dataclass
class Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def fault(kind: str) -> Fault:
    """An error answer as GitHub gives it: ``401``, ``403``, ``404``, ``422``, ``500``, ``502``,
    ``ratelimit`` (primary: 403, no calls left until an hour from now), ``secondary`` (403 with
    retry-after: 1), ``429`` (retry-after: 1)."""
    docs = "https://docs.github.com/rest"
    later = str(int(time.time()) + 3600)
    faults = {
        "401": Fault(401, {"message": "Bad credentials", "documentation_url": docs, "status": "401"}),
        "403": Fault(
            403, {"message": "Resource not accessible by integration", "documentation_url": docs, "status": "403"}
        ),
        "404": Fault(404, {"message": "Not Found", "documentation_url": docs, "status": "404"}),
        "422": Fault(
            422,
            {
                "message": "Validation Failed",
                "documentation_url": docs,
                "status": "422",
                "errors": [
                    {
                        "resource": "IssueComment",
                        "code": "unprocessable",
                        "field": "data",
                        "message": "Could not resolve to a node with the global id",
                    }
                ],
            },
        ),
        "500": Fault(500, {"message": "Server Error"}),
        "502": Fault(502, {"message": "Server Error"}),
        "ratelimit": Fault(
            403,
            {"message": "API rate limit exceeded for installation ID 1.", "documentation_url": docs, "status": "403"},
            {
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": later,
                "x-ratelimit-used": "5000",
                "x-ratelimit-resource": "core",
            },
        ),
        "secondary": Fault(
            403,
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": docs,
                "status": "403",
            },
            {"retry-after": "1"},
        ),
        "429": Fault(429, {"message": "Too many requests", "status": "429"}, {"retry-after": "1"}),
    }
    return faults[kind]


class GitHubAPI:
    """The server's state: comments by (owner, repo, number), the recorded requests, the violations."""

    def __init__(self, description: dict[str, Any], token: str, login: str = "github-actions[bot]") -> None:
        self.openapi = OpenAPI.from_dict(description, config=Config(spec_validator_cls=None))
        self.example = description["components"]["examples"]["issue-comment"]["value"]
        self.token = token
        self.login = login
        self.comments: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.next_id = 1000
        self.lock = threading.Lock()
        self.url = ""

    # what tests use
    def fail(self, kind: str, times: int = 1) -> None:
        self.faults += [fault(kind)] * times

    def bodies(self, owner: str, repo: str, number: int) -> list[str]:
        return [c["body"] for c in self.comments.get((owner, repo, number), [])]

    def add_comment(self, owner: str, repo: str, number: int, body: str, login: str | None = None) -> int:
        with self.lock:
            return int(self._new(owner, repo, number, body, login or "someone")["id"])

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    # serving
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path[len(GHES_PREFIX) :] if parts.path.startswith(GHES_PREFIX + "/") else parts.path
        text = body.decode("utf-8", "replace")
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append(Recorded(method, path, parts.query, text, lowered))
            auth = lowered.get("authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return self._json(401, fault("401").body)
            if self.faults:
                f = self.faults.pop(0)
                return self._json(f.status, f.body, f.headers)
            query = dict(parse_qsl(parts.query))
            request = MockRequest(
                HOST_URL,
                method.lower(),
                path,
                args=query,
                headers=lowered,
                data=body or None,
                content_type=lowered.get("content-type", "application/json").split(";")[0],
            )
            try:
                self.openapi.validate_request(request)
            except Exception as exc:
                self.violations.append(f"{method} {path}: {exc!r} {getattr(exc, '__cause__', '')!r}")
                return self._json(400, {"message": f"request does not match GitHub's API description: {exc}"})
            status, payload, extra = self._operation(method, path, query, text)
            if status < 300:
                self._check_response(request, status, payload, extra)
            return self._json(status, payload, extra)

    def _operation(self, method: str, path: str, query: dict[str, str], text: str) -> tuple[int, Any, dict[str, str]]:
        listed, one = _LIST_OR_CREATE.match(path), _ONE.match(path)
        if listed and method == "GET":
            key = (listed["owner"], listed["repo"], int(listed["number"]))
            return self._page(key, path, query)
        if listed and method == "POST":
            body = json.loads(text)["body"]
            if len(body) > BODY_LIMIT:
                return self._too_long()
            return 201, self._new(listed["owner"], listed["repo"], int(listed["number"]), body, self.login), {}
        if one and method == "PATCH":
            comment = self._find(int(one["id"]))
            if comment is None:
                return 404, fault("404").body, {}
            body = json.loads(text)["body"]
            if len(body) > BODY_LIMIT:
                return self._too_long()
            comment.update(body=body, updated_at=_now())
            return 200, comment, {}
        self.violations.append(f"{method} {path}: an operation the stand-in does not serve")
        return 501, {"message": "not served by the local GitHub API"}, {}

    def _page(self, key: tuple[str, str, int], path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        items = self.comments.get(key, [])
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        return 200, chunk, ({"link": ", ".join(links)} if links else {})

    def _too_long(self) -> tuple[int, Any, dict[str, str]]:
        error = {
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": f"body is too long (maximum is {BODY_LIMIT} characters)",
        }
        return (
            422,
            {
                "message": "Validation Failed",
                "errors": [error],
                "status": "422",
                "documentation_url": "https://docs.github.com/rest",
            },
            {},
        )

    def _new(self, owner: str, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        self.next_id += 1
        comment: dict[str, Any] = copy.deepcopy(self.example)
        cid = self.next_id
        comment.update(
            id=cid,
            node_id=f"IC_{cid}",
            body=body,
            url=f"{HOST_URL}/repos/{owner}/{repo}/issues/comments/{cid}",
            html_url=f"https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{cid}",
            issue_url=f"{HOST_URL}/repos/{owner}/{repo}/issues/{number}",
            created_at=_now(),
            updated_at=_now(),
        )
        comment["user"] = {**comment["user"], "login": login}
        self.comments.setdefault((owner, repo, number), []).append(comment)
        return comment

    def _find(self, cid: int) -> dict[str, Any] | None:
        return next((c for cs in self.comments.values() for c in cs if c["id"] == cid), None)

    def _check_response(self, request: MockRequest, status: int, payload: Any, headers: dict[str, str]) -> None:
        response = MockResponse(
            json.dumps(payload).encode(), status_code=status, headers=headers, content_type="application/json"
        )
        try:
            self.openapi.validate_response(request, response)
        except Exception as exc:
            self.violations.append(f"answer {status} to {request.method} {request.path}: {exc!r}")

    @staticmethod
    def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return (
            status,
            {"content-type": "application/json; charset=utf-8", **(headers or {})},
            json.dumps(payload).encode(),
        )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Handler(BaseHTTPRequestHandler):
    api: GitHubAPI

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.api.handle(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(api: GitHubAPI) -> Iterator[GitHubAPI]:
    """``api`` on 127.0.0.1 (a free port) in a thread; ``api.url`` is its base URL."""
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
