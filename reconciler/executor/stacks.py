"""How a unit's actions run: a stack unit in steps, with its services in dependency levels.
Does I/O (through the handlers).

A stack unit on one host runs: its image pulls (at once, a few in
parallel), then the removals and checks that come before the services,
then the services that create, recreate or start containers in
``depends_on`` levels (a level's services start with one Compose call and
are waited for together; a level starts once the previous one is up and
waited for), a stack's one-off jobs each just before the level of the first
service it precedes (a job that fails stops the unit before those services),
then what comes after them (removing services gone from the compose file),
and last the checks that Compose made the networks and volumes. A service
acts only once the parameter writes it reads succeeded.
The first failure stops the unit: the rest of its level still finishes, the
later steps are reported "not done". Other units (parameters, prune) run
every action whatever the others' outcome.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from concurrent.futures import ThreadPoolExecutor

from reconciler.core.actions import (
    Action,
    CreateService,
    ExpectNetwork,
    ExpectVolume,
    PullImage,
    RecreateService,
    RunJob,
    ServiceAction,
    StartService,
)
from reconciler.core.errors import ReconcilerError, TemporaryError
from reconciler.core.events import ActionStarted
from reconciler.core.plan import ROLLOUT_PREFIX, Unit
from reconciler.core.report import Status
from reconciler.drivers.files import ensure_private_dir, override_text, write_private
from reconciler.executor.handlers import HANDLERS
from reconciler.executor.rollout import run_rollout_unit
from reconciler.executor.run import Run
from reconciler.executor.services import LevelFailed, up_services

MAX_PARALLEL_PULLS = 4
_UP = (CreateService, RecreateService, StartService)


def run_unit(run: Run, unit: Unit) -> Status:
    """Run one unit that may run (its ``after`` units succeeded)."""
    if unit.id.startswith(ROLLOUT_PREFIX):
        return run_rollout_unit(unit, run.drivers.fleet, run.record,
                                lambda a, doing: run.emit(ActionStarted(a.address, a.kind, doing)),
                                lambda a, message: run.record(a, "skipped", message, gone=True))  # fmt: skip
    if unit.stack is None:
        ok = True
        for action in unit.actions:
            ok = dispatch(run, unit, action) and ok
        return "done" if ok else "failed"
    return _stack(run, unit)


def dispatch(run: Run, unit: Unit, action: Action) -> bool:
    """Run one action through :data:`HANDLERS` and record its outcome."""
    try:
        handler = HANDLERS.get(type(action))
        if handler is None:
            raise ReconcilerError(f"the executor cannot apply a {action.kind} action")
        message = handler(run, unit, action)
    except Exception as exc:
        temporary = isinstance(exc, TemporaryError) or (isinstance(exc, LevelFailed) and exc.temporary)
        run.record(action, "failed", run.failure(exc), temporary=temporary)
        return False
    run.record(action, "done", message)
    return True


def _stack(run: Run, unit: Unit) -> Status:
    if unit.compose is not None:
        try:
            _prepare(run, unit)
        except ReconcilerError as exc:
            run.record(unit.actions[0], "failed", str(exc))
            _stop(run, unit)
            return "failed"
    for step in steps(unit):
        if not _step(run, unit, step):
            failed = step[0] if len(step) == 1 and isinstance(step[0], RunJob) else None
            _stop(run, unit, f"job {failed.job} did not succeed" if failed is not None else "")
            return "failed"
    return "done"


def steps(unit: Unit) -> list[list[Action]]:
    """The unit's actions in the order they run; the actions of one step run together. Pure.
    A job runs alone, just before the level of the first service it precedes: the services that
    level depends on are up (and waited for) by then."""
    pulls: list[Action] = [a for a in unit.actions if isinstance(a, PullImage)]
    checks: list[Action] = [a for a in unit.actions if isinstance(a, ExpectNetwork | ExpectVolume)]
    ups = [a for a in unit.actions if isinstance(a, _UP)]
    jobs = [a for a in unit.actions if isinstance(a, RunJob)]
    first_up = next((i for i, a in enumerate(unit.actions) if isinstance(a, (*_UP, RunJob))), len(unit.actions))
    special = {a.address for a in (*pulls, *checks, *ups, *jobs)}
    before = [[a] for i, a in enumerate(unit.actions) if a.address not in special and i < first_up]
    after = [[a] for i, a in enumerate(unit.actions) if a.address not in special and i > first_up]
    result: list[list[Action]] = [pulls] if pulls else []
    return [*result, *before, *_with_jobs(levels(ups, {s for j in jobs for s in j.before}), jobs), *after,
            *([a] for a in checks)]  # fmt: skip


def _with_jobs(ordered: list[list[Action]], jobs: Sequence[RunJob]) -> list[list[Action]]:
    """Each job as a step of its own before the first level holding a service it precedes."""
    out = list(ordered)
    for job in reversed(jobs):
        at = next(
            (i for i, level in enumerate(out) if any(isinstance(a, ServiceAction) and a.service in job.before
                                                     for a in level)),
            0,
        )  # fmt: skip
        out.insert(at, [job])
    return out


def levels(ups: Sequence[ServiceAction], barriers: Set[str] = frozenset()) -> list[list[Action]]:
    """Service actions by ``depends_on`` level among themselves (services it depends on that are
    not acted on are running already; the planner lists them in dependency order), a level after
    a level nothing waits for merged into it (:func:`_merged`), unless it holds a service in
    ``barriers`` (one a job runs before). Pure."""
    level: dict[str, int] = {}
    for action in ups:
        level[action.service] = 1 + max((level[d] for d in action.depends_on if d in level), default=-1)
    grouped: dict[int, list[Action]] = {}
    for action in ups:
        grouped.setdefault(level[action.service], []).append(action)
    return _merged([grouped[k] for k in sorted(grouped)], barriers)


def _merged(ordered: list[list[Action]], barriers: Set[str] = frozenset()) -> list[list[Action]]:
    """Consecutive levels in one Compose call when nothing in the first is waited for and both
    (re)create the same way: Compose itself starts them in ``depends_on`` order (``service_started``
    needs no wait), one process instead of two."""
    out: list[list[Action]] = []
    for level in ordered:
        previous = out[-1] if out else None
        if (
            previous is not None
            and not any(isinstance(a, ServiceAction) and (a.wait_healthy or a.wait_completed) for a in previous)
            and not any(isinstance(a, ServiceAction) and a.service in barriers for a in level)
            and {isinstance(a, RecreateService) for a in (*previous, *level)} in ({True}, {False})
        ):
            out[-1] = [*previous, *level]
        else:
            out.append(list(level))
    return out


def _step(run: Run, unit: Unit, step: list[Action]) -> bool:
    if len(step) == 1 and isinstance(step[0], RunJob) and step[0].needs:
        failed = run.wait_parameters(step[0].needs)
        if failed:
            run.record(step[0], "skipped", f"skipped: parameter {', '.join(failed)} failed")
            return False
    if all(isinstance(a, PullImage) for a in step) and len(step) > 1:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PULLS, len(step))) as pool:
            return all(list(pool.map(lambda a: dispatch(run, unit, a), step)))
    services: list[ServiceAction] = [a for a in step if isinstance(a, _UP)]
    if not services:
        return all([dispatch(run, unit, a) for a in step])
    ok = True
    ready: list[ServiceAction] = []
    for action in services:
        failed = run.wait_parameters(action.needs) if action.needs else []
        if failed:
            run.record(action, "skipped", f"skipped: parameter {', '.join(failed)} failed")
            ok = False
        else:
            ready.append(action)
    if len(ready) == 1:
        return dispatch(run, unit, ready[0]) and ok
    if ready:
        try:
            outcomes = up_services(run, unit, ready)
        except Exception as exc:
            message = run.failure(exc)
            outcomes = {a.address: (False, message, isinstance(exc, TemporaryError)) for a in ready}
        for action in ready:
            succeeded, message, temporary = outcomes[action.address]
            run.record(action, "done" if succeeded else "failed", message, temporary=temporary)
            ok = ok and succeeded
    return ok


def _stop(run: Run, unit: Unit, why: str = "") -> None:
    where = f" on host {unit.host}" if unit.host else ""
    cause = f": {why}" if why else " after a failure"
    for action in unit.actions:
        if not run.recorded(action):
            run.record(action, "skipped", f"not done: stack {unit.stack}{where} stopped{cause}")


def _prepare(run: Run, unit: Unit) -> None:
    assert unit.compose is not None
    path = run.override_path(unit)
    try:
        ensure_private_dir(run.state_dir)
        ensure_private_dir(path.parent)
        write_private(path, override_text(unit.compose.override), mode=0o600)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the stack's override {path}: {exc.strerror}") from None
