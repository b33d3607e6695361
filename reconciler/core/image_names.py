"""Image names as people write them, read the way Docker reads them. Pure.

``nginx:1.27``, ``library/nginx``, ``docker.io/library/nginx``, ``ghcr.io/org/app``
and ``registry.example.com:5000/app@sha256:...`` are all image references;
:func:`parse_image` splits one into the registry host, the repository path in it,
and its tag or digest, with Docker's normalisation (distribution's
``reference.ParseNormalizedNamed``): the first path component is a registry host
only when it has a ``.`` or a ``:`` or is ``localhost``; without one the image is on
Docker Hub (``docker.io``, ``index.docker.io`` being the same), where a one-part
name is an official image under ``library/``. :func:`api_host` is where a
registry's HTTP API answers: Docker Hub's is ``registry-1.docker.io``, every
other registry's is its own host. :func:`is_loopback_host` says whether a
host is this machine (Docker pulls from those over plain HTTP by default).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"  # the host of Docker Hub image references
DOCKER_HUB_API = "registry-1.docker.io"  # where Docker Hub's registry API answers
_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
OFFICIAL_NAMESPACE = "library"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class ImageNameError(ValueError):
    """An image reference that Docker would not accept; the message says why."""


@dataclass(frozen=True)
class ImageName:
    """A parsed image reference: ``host/repository[:tag][@digest]``."""

    host: str  # docker.io, ghcr.io, 127.0.0.1:5000
    repository: str  # library/nginx, org/app
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"


def is_docker_hub(host: str) -> bool:
    return host.lower() in _HUB_ALIASES


def api_host(host: str) -> str:
    """Where the registry API of ``host`` answers (Docker Hub: registry-1.docker.io)."""
    return DOCKER_HUB_API if is_docker_hub(host) else host


def reference_host(host: str) -> str:
    """The host as image references write it (every Docker Hub alias is docker.io)."""
    return DOCKER_HUB if is_docker_hub(host) else host


def normalise_repository(host: str, repository: str) -> str:
    """A Docker Hub repository without a namespace is an official image: ``nginx`` -> ``library/nginx``."""
    if is_docker_hub(host) and "/" not in repository:
        return f"{OFFICIAL_NAMESPACE}/{repository}"
    return repository


def is_loopback_host(host: str) -> bool:
    """``host[:port]`` is this machine (localhost, 127.0.0.0/8, ::1)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _split_host(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return DOCKER_HUB, name


def parse_image(text: str) -> ImageName:
    """``text`` as Docker reads it; raises :class:`ImageNameError` saying what is wrong."""
    if not text or text != text.strip():
        raise ImageNameError("an image reference must not be empty or have surrounding spaces")
    remainder, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ImageNameError(f"'{digest}' is not a digest: expected sha256: followed by 64 lowercase hex digits")
    host, path = _split_host(remainder)
    tag: str | None = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise ImageNameError(
                f"'{tag}' is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', "
                "not starting with '.' or '-'"
            )
    if not _HOST.fullmatch(host):
        raise ImageNameError(f"'{host}' is not a registry host[:port]")
    if not path or not _REPOSITORY.fullmatch(path):
        raise ImageNameError(
            f"'{path}' is not a valid repository path: lowercase letters and digits, separated by "
            "'.', '_', '__' or '-', components joined by '/'"
        )
    return ImageName(reference_host(host), normalise_repository(host, path), tag, digest or None)
