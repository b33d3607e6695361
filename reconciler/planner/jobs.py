"""The planner's jobs part: which of a stack's one-off jobs run, on which host, and why. Pure.

A job (``spec.jobs``) runs only when a service it precedes (``before``) is about to be created or
recreated on some host of the stack, and not when it already succeeded for the configuration those
services are going to (``ObservedState.jobs_done``, read from the state store). That configuration is
:func:`job_hash`: the job's service and command and the config hashes (image digest, definition,
values; :mod:`.targets`) of its service and of the services it precedes, over the stack's hosts, each
distinct set once (a fleet's instances share one, so scaling does not change it). Not the git
revision: a commit that leaves those services alone needs no job, a plain ``reconciler apply`` has
no revision, and a later batch or a retry after a failure sees the same hash. The job runs once, on
the first host (the stack's rollout order) where a service it precedes changes, in that host's stack
unit, before those services (the executor places it before their dependency level). Every job that
does not run is listed as unchanged, with why. No I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.core.actions import Action, Change, CreateService, RecreateService, RunJob, ServiceAction
from reconciler.core.address import job_address
from reconciler.core.fleet import format_duration
from reconciler.core.jobs import JobKey
from reconciler.core.model import JobSpec, ServiceTarget, StackSpec
from reconciler.core.plan import Unchanged

__all__ = ["JobDecisions", "job_hash", "plan_jobs"]


@dataclass(frozen=True)
class JobDecisions:
    """The jobs to run on ``host`` (None: none), and the others with why they do not run."""

    host: str | None = None
    actions: tuple[RunJob, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()


def job_hash(job: JobSpec, targets_by_host: Mapping[str, Mapping[str, ServiceTarget]]) -> str:
    """sha256 of the job's service and command and the distinct config hashes of its service and of
    the services it precedes across the hosts (see the module docstring)."""
    names = (job.service, *job.before)
    configs = sorted(
        {
            json.dumps({n: wanted[n].config_hash for n in names if n in wanted}, sort_keys=True)
            for wanted in targets_by_host.values()
        }
    )
    doc = {"service": job.service, "command": list(job.command), "configs": configs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_VERBS = {CreateService: "created", RecreateService: "recreated"}


def _changing(actions: Sequence[Action]) -> dict[str, str]:
    """Service -> created/recreated, for the services a host's actions create or recreate."""
    return {a.service: _VERBS[type(a)] for a in actions if isinstance(a, CreateService | RecreateService)}


def plan_jobs(
    stack: StackSpec,
    hosts: Sequence[tuple[str, Sequence[Action]]],
    targets_by_host: Mapping[str, Mapping[str, ServiceTarget]],
    done: frozenset[JobKey],
    owner: str,
) -> JobDecisions:
    """The stack's jobs given each planned host's actions (rollout order) and targets."""
    if not stack.jobs:
        return JobDecisions()
    changing = [(host, _changing(actions)) for host, actions in hosts]
    runs: list[tuple[JobSpec, str, dict[str, str]]] = []
    unchanged: list[Unchanged] = []
    for job in stack.jobs:
        address = job_address(stack.name, job.name)
        preceded = {name: verb for _, changes in changing for name, verb in changes.items() if name in job.before}
        if not preceded:
            unchanged.append(Unchanged(address, f"not needed: {_names(job.before)} not created or recreated"))
            continue
        digest = job_hash(job, targets_by_host)
        if (stack.name, job.name, digest) in done:
            unchanged.append(Unchanged(address, f"already succeeded for this configuration ({digest[:12]})"))
            continue
        runs.append((job, digest, preceded))
    if not runs:
        return JobDecisions(unchanged=tuple(unchanged))
    wanted = {name for job, _, _ in runs for name in job.before}
    host = next(h for h, changes in changing if wanted & changes.keys())
    targets = targets_by_host[host]
    actions = tuple(_run(stack, host, job, digest, preceded, targets, owner) for job, digest, preceded in runs)
    return JobDecisions(host, actions, tuple(unchanged))


def _names(services: Sequence[str]) -> str:
    return ", ".join(services)


def _run(
    stack: StackSpec,
    host: str,
    job: JobSpec,
    digest: str,
    preceded: Mapping[str, str],
    targets: Mapping[str, ServiceTarget],
    owner: str,
) -> RunJob:
    image = targets[job.service].image
    what = ", ".join(f"{name} is {verb}" for name, verb in sorted(preceded.items()))
    after = {"service": job.service, "command": list(job.command), "image": image, "configuration": digest}
    return RunJob(
        change=Change(job_address(stack.name, job.name), None, after),
        reason=f"runs once before {what} (not yet run for configuration {digest[:12]}; "
        f"timeout {format_duration(job.timeout)})",
        host=host, stack=stack.name, project=stack.project, job=job.name, service=job.service,
        command=job.command, before=job.before, timeout=job.timeout, job_hash=digest, image=image, owner=owner,
    )  # fmt: skip


def place_jobs(actions: Sequence[Action], jobs: Sequence[RunJob]) -> tuple[Action, ...]:
    """A host's actions with each job just before the first service it precedes that is created or
    recreated there (where the executor runs it: the services before it in dependency order are up)."""
    out = list(actions)
    for job in jobs:
        first = next((i for i, a in enumerate(out) if isinstance(a, ServiceAction)), len(out))
        changing = (isinstance(a, CreateService | RecreateService) and a.service in job.before for a in out)
        preceded = (i for i, yes in enumerate(changing) if yes)
        at = next(preceded, first)
        out.insert(at, job)
    return tuple(out)
