"""What the Docker and Compose drivers share without importing the Docker SDK: the default
engine address and how to tell a temporary failure from its text. Pure."""

from __future__ import annotations

import re

DEFAULT_SOCKET = "unix:///var/run/docker.sock"

# Engine/daemon messages that mean "not reachable (yet)" rather than "wrong".
_TRANSIENT_TEXT = re.compile(
    r"connection refused|cannot connect to the docker daemon|is the docker daemon running|"
    r"i/o timeout|timed? ?out|tls handshake timeout|temporary failure|connection reset|"
    r"service unavailable|too many requests|toomanyrequests|no such host|network is unreachable",
    re.IGNORECASE,
)


def looks_temporary(text: str) -> bool:
    """Whether an engine/registry/compose error text means "unreachable or overloaded, retry later". Pure."""
    return bool(_TRANSIENT_TEXT.search(text))
