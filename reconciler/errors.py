"""Exceptions that reach the user as a clear message (no stack trace). Pure.

The CLI prints ``str(error)`` and exits 1 for every :class:`ReconcilerError`.
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
    """AWS, a registry or Docker failed: unreachable, denied, throttled, missing."""

    def __init__(self, resource: str, message: str) -> None:
        self.resource = resource
        self.message = message
        super().__init__(f"{resource}: {message}")
