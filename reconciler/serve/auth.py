"""Who may read the status page, ``/api/status`` and ``/metrics``: nobody checked on loopback by
default, a bearer token or HTTP basic authentication when asked. Pure (the standard library).

The secret (the token, or the basic password) comes from an environment variable the user
names, never from the command line or git; it is compared in constant time
(:func:`hmac.compare_digest`, on the whole ``Authorization`` value's digest, so neither its
length nor a prefix leaks through timing). A listener on an address other than loopback
without authentication is refused unless the user says ``--listen-insecure``
(:func:`exposure_problem`): Prometheus and Argo CD leave their listeners open by default and
their users are told to put a proxy in front; here the safe default is the default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from enum import Enum


class Scheme(str, Enum):
    NONE = "none"
    BEARER = "bearer"
    BASIC = "basic"


@dataclass(frozen=True)
class Auth:
    """How requests to the protected paths are authenticated (``secret``: the token or password)."""

    scheme: Scheme = Scheme.NONE
    secret: bytes = field(default=b"", repr=False)
    user: str = "reconciler"

    def __post_init__(self) -> None:
        if self.scheme is not Scheme.NONE and not self.secret:
            raise ValueError("an authentication scheme needs a non-empty secret")

    @property
    def required(self) -> bool:
        return self.scheme is not Scheme.NONE

    def _expected(self) -> bytes:
        if self.scheme is Scheme.BEARER:
            return b"Bearer " + self.secret
        return b"Basic " + base64.b64encode(self.user.encode() + b":" + self.secret)

    def allows(self, authorization: str | None) -> bool:
        """Whether a request carrying this ``Authorization`` header value may read."""
        if not self.required:
            return True
        given = (authorization or "").strip().encode("utf-8", "surrogateescape")
        scheme, _, rest = given.partition(b" ")
        given = scheme.capitalize() + b" " + rest.strip()  # the scheme is case-insensitive (RFC 9110)
        return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(self._expected()).digest())

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401."""
        if self.scheme is Scheme.BEARER:
            return 'Bearer realm="reconciler"'
        return 'Basic realm="reconciler", charset="UTF-8"'


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost`` and the rest of 127.0.0.0/8."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, auth: Auth, insecure: bool) -> str | None:
    """Why serving the page on ``host`` is refused (None when it is not)."""
    if auth.required or insecure or is_loopback(host):
        return None
    return (f"refusing to serve the status page and /metrics on {host} without authentication: "
            "add --listen-auth bearer (or basic) with the token in the variable --listen-secret-env names, "
            "or --listen-insecure to serve them to anyone who can reach the address")  # fmt: skip


__all__ = ["Auth", "Scheme", "exposure_problem", "is_loopback"]
