"""The executor's jobs part: a stack's one-off job run with ``docker compose run``. Does I/O (through
Compose, the engine driver and the state store).

:func:`run_job` runs one :class:`~reconciler.core.actions.RunJob` on its unit's host with the stack's
compose file and override (the service's image, configuration, environment and networks; the job's
command; the job label on its container), killed at its timeout. A container of the same job an
interrupted run left behind is removed first, and so is the one a timeout leaves. Exit 0 is recorded
in the state store (:class:`~reconciler.core.jobs.JobLedger`) under the job's hash, so the next plan
does not run it again; a non-zero exit or a timeout fails the action, which stops the stack before
its services change (:mod:`.stacks`). The result's message carries the exit code and the last lines
of the output, secret values masked.
"""

from __future__ import annotations

import time

from reconciler.core.actions import Action, RunJob
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import ActionStarted
from reconciler.core.fleet import format_duration
from reconciler.core.jobs import JobRecord, output_tail
from reconciler.core.model import JOB_KEY, OWNER_KEY, reveal
from reconciler.core.plan import Unit
from reconciler.executor.run import Run

__all__ = ["JobFailed", "run_job"]


class JobFailed(ReconcilerError):
    """A job exited non-zero or ran past its timeout (the message says which, with its output)."""


def _output(tail: str) -> str:
    lines = "\n".join(f"    {line}" for line in tail.splitlines())
    return f"; last lines of its output:\n{lines}" if tail else "; no output"


def run_job(run: Run, unit: Unit, action: Action) -> str:
    """Run the job; its exit code and output's last lines, or :class:`JobFailed`."""
    assert isinstance(action, RunJob) and unit.compose is not None
    compose = unit.compose
    drivers = run.host(unit)
    doing = f"running {' '.join(action.command)} with docker compose run {action.service} on {unit.host}"
    run.emit(ActionStarted(action.address, action.kind, doing))
    drivers.engine.remove_job_containers(compose.project, action.job)  # left by an interrupted run
    result = drivers.compose.run(
        compose.project,
        compose.project_dir,
        [compose.compose_file, run.override_path(unit)],
        action.service,
        action.command,
        environment={key: reveal(value) for key, value in compose.environment.items()},
        timeout=action.timeout,
        labels={JOB_KEY: action.job, OWNER_KEY: action.owner},
        secrets=run.secrets,
    )
    tail = output_tail(run.mask(result.output))
    if result.exit_code is None:
        removed = drivers.engine.remove_job_containers(compose.project, action.job)
        gone = "its container removed" if removed else "no container left"
        raise JobFailed(
            f"job {action.job} did not finish within {format_duration(action.timeout)}: killed, {gone}{_output(tail)}"
        )
    if result.exit_code != 0:
        raise JobFailed(f"job {action.job} exited {result.exit_code}{_output(tail)}")
    message = f"job {action.job} exited 0 in {result.seconds:.1f}s on {unit.host}"
    ledger = run.drivers.jobs
    if ledger is not None:
        record = JobRecord(action.stack, action.job, action.job_hash, action.host, time.time(), result.seconds, tail)
        try:
            ledger.record_job(run.plan.environment, record)
        except ReconcilerError as exc:  # it ran: the services go on; only a later change may run it again
            message += f" (not recorded in the state store: {exc})"
    return message + _output(tail)
