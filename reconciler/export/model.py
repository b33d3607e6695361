"""What an export to Kubernetes reads and what it gives back. Pure.

:class:`ExportInput` is an environment as the exporter sees it: the desired state
(:class:`~reconciler.core.model.DesiredState`), each service's pinned image, where each
service is written (``file:line``, for messages), how many replicas each host stands for
(a fleet's instances), and where the manifests will live in git (for the Argo CD
Application). :class:`Manifests` is the result: file name -> YAML text, what could not be
translated (:class:`Finding`, each naming the file, line and field) and the notes on what
changed meaning on the way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.core.model import DesiredState

__all__ = ["ExportInput", "Finding", "GitTarget", "Manifests"]

KUBERNETES_VERSION = "1.33"  # the version the output is written for (and validated against in tests)
DEFAULT_WAIT_IMAGE = "busybox:1.36.1"  # the init containers that wait for a dependency
DEFAULT_VOLUME_SIZE = "1Gi"


@dataclass(frozen=True)
class GitTarget:
    """Where Argo CD finds the manifests: repository URL, revision and the folder's path in it."""

    repo_url: str
    path: str
    revision: str = "HEAD"


@dataclass(frozen=True)
class ExportInput:
    desired: DesiredState
    region: str | None  # the AWS region of the SSM / Secrets Manager stores (None: no AWS)
    git: GitTarget
    images: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (stack, service) -> image reference
    sources: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (stack, service) -> file:line
    replicas: Mapping[str, int] = field(default_factory=dict)  # host name -> instances it stands for (fleets)
    wait_image: str = DEFAULT_WAIT_IMAGE
    volume_size: str = DEFAULT_VOLUME_SIZE


@dataclass(frozen=True, order=True)
class Finding:
    """A compose feature with no Kubernetes equivalent: where it is and why."""

    where: str  # file:line of the service (or the resource when there is no file)
    field: str  # services.<name>.<key>
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Manifests:
    files: Mapping[str, str]  # path under the output folder -> YAML text
    untranslated: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
