"""What the state store keeps of one-off jobs: a job that succeeded, for one configuration. Pure data.

A job (``spec.jobs``) runs once per configuration of what it precedes: the planner names that
configuration by a hash (:attr:`reconciler.core.actions.RunJob.job_hash`), the executor records a
:class:`JobRecord` under ``(environment, stack, job, hash)`` when the job exited 0, and the next plan
reads the keys back (:attr:`reconciler.core.observed.ObservedState.jobs_done`) and does not run it
again for that hash. A failed, timed-out or interrupted job leaves no record: it runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: (stack, job, hash) of a job that succeeded, within one environment
JobKey = tuple[str, str, str]

#: the last lines of a job's output kept in the report, the status and the store
OUTPUT_LINES = 10


@dataclass(frozen=True)
class JobRecord:
    """A job that exited 0: where, when, and the last lines of its output (masked)."""

    stack: str
    job: str
    hash: str
    host: str
    finished_at: float
    seconds: float = 0.0
    output: str = ""  # masked, at most OUTPUT_LINES lines

    @property
    def key(self) -> JobKey:
        return (self.stack, self.job, self.hash)


def output_tail(text: str, lines: int = OUTPUT_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text`` (already masked)."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class JobLedger(Protocol):
    """Where jobs that succeeded are recorded: the state store (SQLite, DynamoDB)."""

    def jobs_done(self, environment: str) -> frozenset[JobKey]:
        """The (stack, job, hash) of every job of ``environment`` that succeeded."""
        ...

    def record_job(self, environment: str, record: JobRecord) -> None:
        """Record a job that exited 0 (again: the newer record replaces the older)."""
        ...
