"""Exceptions that reach the user as a clear message (no stack trace). Pure.

The CLI prints ``str(error)`` and exits 1 for every :class:`ReconcilerError`.

World failures are typed by what a caller (a reconcile loop) should do next,
after kopf's ``TemporaryError``/``PermanentError``:

* :class:`TemporaryError`: unreachable, throttled, 5xx, timed out. Worth
  retrying after a delay (``retry_after`` seconds when the server said so).
* :class:`PermanentError`: denied, invalid, not found, refused by a read-only
  client. Retrying the same call will fail the same way until someone acts.

Both name the ``resource`` (what the reconciler was doing) and the
``endpoint`` (the URL, host or socket that failed; ``""`` when unknown).
"""

from __future__ import annotations

from dataclasses import dataclass


class ReconcilerError(Exception):
    """A failure the user can act on; its message is shown as is."""


@dataclass(frozen=True)
class SpecIssue:
    file: str  # path as given on the command line (relative when possible)
    line: int | None  # 1-based
    field: str  # dotted/indexed path, e.g. spec.parameters.DB_HOST.type
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class SpecError(ReconcilerError):
    """All problems found in an environment's specs, reported at once."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {i}" for i in issues)
        super().__init__(f"{len(issues)} error(s) in the environment specs:\n{lines}")


class WorldError(ReconcilerError):
    """AWS, a registry or Docker failed: unreachable, denied, throttled, missing.

    The base of :class:`TemporaryError` and :class:`PermanentError`; raised as
    such only where nothing is known about retrying (e.g. the planner's
    "image tag not found" problem). ``str()`` is ``"<resource>: <message>"``,
    followed by ``" (at <endpoint>)"`` when the endpoint is known and not
    already named.
    """

    def __init__(self, resource: str, message: str, *, endpoint: str = "") -> None:
        self.resource = resource
        self.message = message
        self.endpoint = endpoint
        text = f"{resource}: {message}"
        if endpoint and endpoint not in text:
            text += f" (at {endpoint})"
        super().__init__(text)


class TemporaryError(WorldError):
    """Unreachable, throttled, a 5xx or a timeout: retry after a delay (``retry_after`` when known)."""

    def __init__(
        self, resource: str, message: str, *, endpoint: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(resource, message, endpoint=endpoint)
        self.retry_after = retry_after


class PermanentError(WorldError):
    """Denied, invalid or not found: retrying the same call fails the same way."""


class ReadOnlyViolation(PermanentError):
    """A mutating call attempted through a read-only client (plan, status): refused before it left."""

    def __init__(self, client: str, operation: str, *, endpoint: str = "") -> None:
        self.client = client
        self.operation = operation
        super().__init__(
            f"read-only {client} client",
            f"{operation} refused: this client may only read",
            endpoint=endpoint,
        )
