"""GitHub-style webhook deliveries: signatures, push events, replayed ids. Pure (no I/O).

Guarantees:

- :func:`verify` accepts a delivery only when a non-empty secret is configured
  and ``X-Hub-Signature-256`` is exactly ``sha256=<64 hex>`` equal (compared in
  constant time) to the HMAC-SHA256 of the raw body. ``sha1=`` (the legacy
  ``X-Hub-Signature``), an empty secret and anything malformed are refused.
- :func:`decide` turns an authenticated delivery into exactly one of
  :class:`Pong`, :class:`Ignored` (with the reason) or :class:`Push`, or raises
  :class:`BadPayload`. A :class:`Push` is only ever returned for a push to
  ``refs/heads/<branch>`` that is not a deletion and names a commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class BadPayload(ValueError):
    """The delivery is authenticated but not a payload we can read (answered with 400)."""


class UnsupportedType(BadPayload):
    """The body is neither JSON nor GitHub's ``payload=`` form (answered with 415)."""


@dataclass(frozen=True)
class Push:
    """A push to the watched branch: the loop should start a tick for ``sha``."""

    branch: str
    sha: str
    repository: str  # "owner/name" (repository.full_name), "" when absent
    pusher: str  # pusher.name, "" when absent
    delivery_id: str  # X-GitHub-Delivery, "" when absent
    clone_url: str = ""
    message: str = ""  # head_commit.message


@dataclass(frozen=True)
class Ignored:
    """An authenticated delivery that asks for nothing; ``reason`` is said in the answer."""

    reason: str


@dataclass(frozen=True)
class Pong:
    """The answer to GitHub's ``ping`` event (sent when a webhook is created)."""


Decision = Push | Ignored | Pong


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def well_formed(signature: str | None) -> bool:
    """Whether a header value has the ``sha256=<64 lowercase hex>`` shape (checked before reading a body)."""
    return signature is not None and _SIGNATURE.fullmatch(signature) is not None


def verify(secret: bytes | None, body: bytes, signature: str | None) -> bool:
    """True only for a non-empty secret and a well-formed signature of exactly ``body``."""
    if not secret or signature is None or not well_formed(signature):
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), signature.encode("ascii"))


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json`` ("" when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def payload(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery, sent as JSON or as GitHub's ``payload=`` form."""
    kind = media_type(content_type)
    if kind not in (JSON_TYPE, FORM_TYPE):
        raise UnsupportedType(f"unsupported content type {kind or '(none)'!r}: send {JSON_TYPE}")
    try:
        if kind == FORM_TYPE:
            fields = parse_qs(body.decode("ascii"), max_num_fields=8, strict_parsing=True)
            forms = fields.get("payload", [])
            text = forms[0] if list(fields) == ["payload"] and len(forms) == 1 else None
        else:
            text = body.decode("utf-8")
        data = json.loads(text) if text is not None else None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError; deep nesting
        raise BadPayload(f"the body is not valid {kind}: {type(e).__name__}") from None
    if text is None:
        raise BadPayload("the form must carry exactly one 'payload' field")
    if not isinstance(data, dict):
        raise BadPayload("the payload is not a JSON object")
    return data


def _text(data: dict[str, Any], *path: str) -> str:
    """A string at ``path`` in nested objects, "" when any step is missing or not the right type."""
    value: Any = data
    for key in path:
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    return value if isinstance(value, str) else ""


def decide(
    event: str | None,
    data: dict[str, Any],
    *,
    branch: str,
    delivery_id: str = "",
    repository: str | None = None,
) -> Decision:
    """What an authenticated delivery of ``event`` with ``data`` asks for.

    ``repository`` (``owner/name``, compared case-insensitively), when given,
    restricts pushes to that repository (one secret may serve an organisation).
    """
    if not event:
        raise BadPayload("missing X-GitHub-Event header")
    if event == "ping":
        return Pong()
    if event != "push":
        return Ignored(f"event {event!r} is not a push")
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref:
        raise BadPayload("push without a 'ref'")
    full_name = _text(data, "repository", "full_name")
    if repository is not None and full_name.lower() != repository.lower():
        return Ignored(f"push to repository {full_name or '(unnamed)'!r}, not {repository!r}")
    if ref.startswith("refs/tags/"):
        return Ignored(f"push of tag {ref.removeprefix('refs/tags/')!r}")
    if ref != f"refs/heads/{branch}":
        return Ignored(f"push to {ref!r}, not refs/heads/{branch}")
    after = data.get("after")
    if data.get("deleted") is True or (isinstance(after, str) and after and set(after) == {"0"}):
        return Ignored(f"deletion of branch {branch!r}")
    if not isinstance(after, str) or _COMMIT.fullmatch(after) is None:
        raise BadPayload("push without a commit id in 'after'")
    return Push(
        branch=branch,
        sha=after,
        repository=full_name,
        pusher=_text(data, "pusher", "name"),
        delivery_id=delivery_id,
        clone_url=_text(data, "repository", "clone_url"),
        message=_text(data, "head_commit", "message"),
    )


@dataclass
class Deliveries:
    """Delivery ids accepted in the last ``window`` seconds: a replayed delivery starts no second tick.

    :meth:`claim` is atomic, so two concurrent copies of one delivery are
    accepted once; :meth:`release` forgets a claim whose push failed, so a
    redelivery (GitHub's "Redeliver" reuses the id) is accepted again.
    """

    window: float
    limit: int = 4096
    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, delivery_id: str) -> bool:
        """True when the id was not accepted within the window (now it is); always True for "" or window 0."""
        if not delivery_id or self.window <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            for key in [k for k, at in self._seen.items() if now - at > self.window]:
                del self._seen[key]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            while len(self._seen) > self.limit:
                del self._seen[next(iter(self._seen))]
            return True

    def release(self, delivery_id: str) -> None:
        with self._lock:
            self._seen.pop(delivery_id, None)
