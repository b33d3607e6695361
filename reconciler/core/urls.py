"""Whether an address a user gave (a flag, a spec field) is a usable network URL. Pure.

Python's ``urlsplit`` raises ``ValueError`` on an unclosed IPv6 bracket or a bracketed
host that is no IP address, and reading ``.port`` raises on a port that is not a number
or out of range. :func:`url_problem` turns each into a short reason, so that a bad
address is refused where it is read (a flag, a spec field), naming it, instead of
failing deep inside a client with a stack trace.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_PORT = "its port must be a number from 1 to 65535"
_HOST = "its host is not a valid address"
_BRACKETS = f"{_HOST} (an IPv6 address is written in brackets: [::1]:4566)"


def url_problem(url: str) -> str | None:
    """Why ``url`` (``scheme://[user@]host[:port][/path]``) cannot be connected to; None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed '[' or a bracketed host that is no IP address
        return _BRACKETS
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        return _PORT
    host = parts.hostname
    if not host:
        return "it names no host"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return _BRACKETS
    if any(c.isspace() or not c.isprintable() for c in parts.netloc) or "]" in host or "[" in host:
        return _HOST
    if port == 0:
        return _PORT
    return None
