"""The OCI (Docker distribution) registry: tag -> digest over HTTP, its session and request counting. Does I/O.

:class:`OciRegistry` speaks the distribution HTTP API: one
``HEAD /v2/<repo>/manifests/<tag>`` per tag (what ``docker pull`` of an
unchanged image costs), Bearer tokens when the registry asks: anonymous, or
with the registry's credentials as Basic auth on the token request (Docker
Hub's and GHCR's token flow: ``GET realm?service=...&scope=repository:X:pull``
-> ``{"token": ...}``); a registry asking for Basic auth itself gets the
credentials directly. Credentials only ever travel over https, or to a
registry the spec marks ``insecure``. It
only ever sends GET and HEAD (it works on a read-only session). A token is
kept for its ``expires_in`` (60 s when the token service does not say, per
the distribution spec's token protocol; :func:`token_expiry`) and fetched
again when it expired or when the registry answers 401 to it (one retry).
A tag or repository that does not exist is simply absent from the answer.
Failures are :class:`~reconciler.core.errors.TemporaryError` (unreachable,
timeout, 429, 5xx) or :class:`~reconciler.core.errors.PermanentError`
(denied, unsupported auth, other 4xx), naming the registry and its URL.
:func:`http_session` is the session registries are read through;
:class:`RegistryCallCounter` counts its requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import requests

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.core.model import Sensitive
from reconciler.drivers.registry.auth import Clock

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
DEFAULT_TIMEOUT = 10.0
DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, distribution token spec: expires_in when absent
TOKEN_MARGIN = 5.0  # refresh a bearer token this long before it expires

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
TAGS_PAGE = 1000  # tags a page asked of a registry that pages them (Docker Hub: up to 1000)


def _next_page(base: str, link: str) -> str | None:
    """The next page's URL from a ``Link`` header (relative to the registry), None on the last page."""
    match = _NEXT.search(link)
    if match is None:
        return None
    target = match.group(1)
    return target if target.startswith(("http://", "https://")) else base + "/" + target.lstrip("/")


@dataclass(frozen=True)
class BearerToken:
    value: str
    expires_at: float  # by the injected clock

    def valid(self, now: float) -> bool:
        return now < self.expires_at


def token_expiry(body: Mapping[str, Any], fetched_at: float) -> float:
    """When a token from the token service stops being usable, by the clock that read ``fetched_at``.

    ``expires_in`` (default 60 s) counts from ``issued_at`` when the service sent
    one that agrees with our clock within the lifetime, else from the fetch. Pure.
    """
    try:
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_LIFETIME
    start = fetched_at
    issued = body.get("issued_at")
    if isinstance(issued, str):
        try:
            issued_ts = datetime.fromisoformat(issued.replace("Z", "+00:00")).timestamp()
        except ValueError:
            issued_ts = None
        if issued_ts is not None and abs(issued_ts - fetched_at) < lifetime:
            start = min(start, issued_ts)
    return start + max(0.0, lifetime - min(TOKEN_MARGIN, lifetime / 10))


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["Retry-After"]))
    except (KeyError, TypeError, ValueError):
        return None


class OciRegistry:
    def __init__(
        self,
        session: requests.Session,
        host: str,
        insecure: bool = False,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = time.time,
        credentials: tuple[str, Sensitive] | None = None,
    ) -> None:
        self._session = session
        self.host = host
        self.insecure = insecure
        self._credentials = credentials
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[str, BearerToken] = {}  # scope -> bearer token

    @property
    def resource(self) -> str:
        return f"registry {self.host}"

    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for tag in dict.fromkeys(tags):
            digest = self.digest(repository, tag)
            if digest is not None:
                found[tag] = digest
        return found

    def tags(self, repository: str, page_size: int = TAGS_PAGE) -> list[str] | None:
        """Every tag of ``repository`` (None when it does not exist): ``GET /v2/<repo>/tags/list?n=``, one
        request per page, following the ``Link: <...>; rel="next"`` header as the distribution spec says."""
        url: str | None = f"{self.base}/v2/{repository}/tags/list?n={page_size}"
        found: list[str] = []
        while url is not None:
            resp = self._request("GET", url, repository)
            if resp.status_code == 404:
                return None
            self._check(resp, repository, "tags")
            try:
                body: Any = resp.json()
            except ValueError:
                raise PermanentError(self.resource, f"tags of {repository}: not JSON", endpoint=self.base) from None
            found.extend(str(t) for t in (body.get("tags") if isinstance(body, dict) else None) or [])
            url = _next_page(self.base, resp.headers.get("Link", ""))
        return found

    def digest(self, repository: str, reference: str) -> str | None:
        """Digest of ``repository:reference`` (a tag or a digest), None when not found."""
        url = f"{self.base}/v2/{repository}/manifests/{reference}"
        resp = self._request("HEAD", url, repository)
        if resp.status_code == 404:
            return None
        self._check(resp, repository, reference)
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        # Some registries omit the header on HEAD: the digest is the sha256 of the manifest body.
        resp = self._request("GET", url, repository)
        if resp.status_code == 404:
            return None
        self._check(resp, repository, reference)
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(resp.content).hexdigest()

    def _request(self, method: str, url: str, repository: str) -> requests.Response:
        """Send with the cached token when still valid; on 401 fetch a token (once) and resend."""
        scope = f"repository:{repository}:pull"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        token = self._tokens.get(scope)
        if token is not None and not token.valid(self._clock()):
            del self._tokens[scope]
            token = None
        if token is not None:
            headers["Authorization"] = f"Bearer {token.value}"
        resp = self._send(method, url, headers)
        if resp.status_code != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        if not challenge.lower().startswith("bearer "):
            if token is not None or "Authorization" in headers:
                return resp
            if self._credentials is None:
                raise PermanentError(
                    self.resource,
                    "asks for credentials (basic auth): give the registry credentials",
                    endpoint=self.base,
                )
            headers["Authorization"] = self._basic(self.base)
            return self._send(method, url, headers)
        self._tokens.pop(scope, None)
        token = self._token(challenge, scope)
        self._tokens[scope] = token
        headers["Authorization"] = f"Bearer {token.value}"
        return self._send(method, url, headers)

    def _send(self, method: str, url: str, headers: Mapping[str, str]) -> requests.Response:
        try:
            return self._session.request(method, url, headers=dict(headers), timeout=self._timeout)
        except requests.ConnectionError:
            raise TemporaryError(
                self.resource, f"cannot connect to {self.base}: is the registry running?", endpoint=self.base
            ) from None
        except requests.Timeout:
            raise TemporaryError(self.resource, f"{self.base} did not answer in time", endpoint=self.base) from None
        except requests.RequestException as exc:
            raise TemporaryError(self.resource, f"request failed: {type(exc).__name__}", endpoint=self.base) from None

    def _basic(self, where: str) -> str:
        """The Basic Authorization header of the credentials, for ``where`` (https, or an insecure registry)."""
        assert self._credentials is not None
        if not where.startswith("https://") and not self.insecure:
            raise PermanentError(self.resource, f"will not send credentials over plain http to {where}", endpoint=where)
        username, password = self._credentials
        raw = f"{username}:{password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _token(self, challenge: str, scope: str) -> BearerToken:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise PermanentError(self.resource, "sent a Bearer challenge without a realm", endpoint=self.base)
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        headers = {"Authorization": self._basic(realm)} if self._credentials is not None else {}
        try:
            resp = self._session.get(realm, params=query, headers=headers, timeout=self._timeout)
        except requests.RequestException:
            raise TemporaryError(self.resource, f"cannot reach its token service {realm}", endpoint=realm) from None
        fetched_at = self._clock()
        if resp.status_code != 200:
            if self._credentials is None:
                message = f"token service {realm} refused anonymous access (HTTP {resp.status_code})"
            else:
                message = (
                    f"token service {realm} refused the credentials of user '{self._credentials[0]}' "
                    f"(HTTP {resp.status_code}): check the user name and the password or token"
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TemporaryError(self.resource, message, endpoint=realm, retry_after=_retry_after(resp))
            raise PermanentError(self.resource, message, endpoint=realm)
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            raise PermanentError(self.resource, f"token service {realm} returned no token", endpoint=realm)
        return BearerToken(str(token), token_expiry(body, fetched_at))

    def _check(self, resp: requests.Response, repository: str, reference: str) -> None:
        status = resp.status_code
        if status == 200:
            return
        if status in (401, 403):
            hint = (
                "anonymous pulls are not allowed: the repository is private (give the registry credentials) "
                "or does not exist"
                if self._credentials is None
                else f"user '{self._credentials[0]}' may not pull it"
            )
            raise PermanentError(
                self.resource, f"access to {repository}:{reference} denied (HTTP {status}): {hint}", endpoint=self.base
            )
        message = f"unexpected HTTP {status} for {repository}:{reference}"
        if status == 429 or status >= 500:
            raise TemporaryError(self.resource, message, endpoint=self.base, retry_after=_retry_after(resp))
        raise PermanentError(self.resource, message, endpoint=self.base)


HttpSession = requests.Session


def http_session() -> requests.Session:
    """The HTTP session registries are read through (one per world, closed with it)."""
    return requests.Session()


class RegistryCallCounter:
    """Counts registry HTTP requests (method, host) through requests' response hook."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def attach(self, session: requests.Session) -> RegistryCallCounter:
        session.hooks["response"].append(self._on_response)
        return self

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.calls[(str(request.method), urlparse(str(request.url)).netloc)] += 1

    def reset(self) -> None:
        self.calls.clear()
