"""A signed webhook client: sends what GitHub sends on a push. Does I/O (HTTP).

For the benchmark (commit pushed -> converged, through a signed webhook) and
for tests; also handy by hand against a listener behind a proxy.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

from reconciler.serve.webhook import SIGNATURE_HEADER, sign


def push_payload(branch: str, sha: str, *, repository: str = "", pusher: str = "", message: str = "") -> bytes:
    """The fields of a GitHub push event that the listener reads, as the JSON body."""
    data = {
        "ref": f"refs/heads/{branch}",
        "after": sha,
        "deleted": False,
        "repository": {"full_name": repository},
        "pusher": {"name": pusher},
        "head_commit": {"id": sha, "message": message},
    }
    return json.dumps(data).encode("utf-8")


def send_push(
    url: str,
    secret: bytes,
    *,
    branch: str,
    sha: str,
    repository: str = "",
    delivery_id: str | None = None,
    timeout: float = 5.0,
) -> tuple[int, str]:
    """POST a signed push event to ``url`` (e.g. ``http://127.0.0.1:9090/webhook``); returns (status, body).

    HTTP error statuses are returned, not raised; an unreachable listener raises ``OSError``.
    """
    body = push_payload(branch, sha, repository=repository)
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "reconciler-webhook-client",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            SIGNATURE_HEADER: sign(secret, body),
        },
    )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the listener
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode("utf-8", "replace")
