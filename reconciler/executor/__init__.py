"""Run a Plan with the drivers, unit by unit. Does I/O (through drivers).

The plan is a complete program: the executor never calls the planner and
needs neither the desired nor the observed state. The parameter writes run
in the background from the start (:mod:`.run`); the other units run in plan
order, a unit only when the units it comes ``after`` fully succeeded and,
for the prune unit, when nothing failed; otherwise every action of it is
reported "skipped" with the reason (which host). Within a stack unit
(:mod:`.stack`) images are pulled at once, services start in dependency
levels (one Compose call and one wait per level), each service only once
the parameter writes it reads succeeded; the first failure stops the unit
(the rest is "not done"), and the same stack's later hosts are skipped;
other stacks go on. Parameter writes and prunes are independent of each
other. Every action goes through one table, :data:`HANDLERS` (action type
-> handler, :mod:`.handlers`), and is safe to repeat.

Compose gets the stack's interpolation values (secrets included) in its
process environment, never in a file; the override (no secrets) is written
per host and stack in the 0700 state dir. Report messages and events never
contain secret values.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from reconciler.core.actions import PutParameter
from reconciler.core.events import EventSink, LeftoverRemoved, discard
from reconciler.core.model import Sensitive
from reconciler.core.plan import Plan
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.executor.handlers import HANDLERS
from reconciler.executor.run import Drivers, ExecuteOptions, HostDrivers, Run
from reconciler.executor.services import up_services
from reconciler.executor.stacks import run_unit


def execute(
    plan: Plan,
    drivers: Drivers,
    *,
    state_dir: Path,
    options: ExecuteOptions | None = None,
    on_event: EventSink = discard,
) -> ApplyReport:
    """Run ``plan`` and report every action's outcome."""
    clean_leftovers(state_dir, on_event)
    run = Run(
        plan,
        drivers,
        state_dir=state_dir,
        options=options or ExecuteOptions(),
        emit=on_event,
        secrets=plan_secrets(plan),
    )
    return run.execute(run_unit)


def execute_within(
    plan: Plan,
    drivers: Drivers,
    *,
    state_dir: Path,
    options: ExecuteOptions | None = None,
    on_event: EventSink = discard,
) -> ApplyReport:
    """Run ``plan`` inside a running execution (a rotation converging a replacement): as
    :func:`execute`, without cleaning the state dir, which the outer run and its other threads use."""
    run = Run(plan, drivers, state_dir=state_dir, options=options or ExecuteOptions(), emit=on_event,
              secrets=plan_secrets(plan))  # fmt: skip
    return run.execute(run_unit)


def clean_leftovers(state_dir: Path, on_event: EventSink = discard) -> list[Path]:
    """Remove what an interrupted run may have left in the state dir: env files (older versions
    wrote the stack's values, secrets included, to ``<stack>.env``) and half-written temporary
    files (``.<name>.<pid>.tmp``). Overrides hold no secret and are rewritten; they stay."""
    removed: list[Path] = []
    if not state_dir.is_dir():
        return removed
    for path in sorted(state_dir.rglob("*")):
        what = ""
        if path.is_file() and path.suffix == ".env":
            what = "an env file (it may hold secrets)"
        elif path.is_file() and path.name.startswith(".") and path.name.endswith(".tmp"):
            what = "a half-written temporary file"
        if what:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
            on_event(LeftoverRemoved(str(path), what))
    return removed


def plan_secrets(plan: Plan) -> frozenset[str]:
    """Every secret value the plan carries (to scrub from messages)."""
    found: set[str] = set()
    for unit in plan.units:
        for action in unit.actions:
            if isinstance(action, PutParameter) and isinstance(action.value, Sensitive):
                found.add(action.value.reveal())
        if unit.compose is not None:
            found.update(v.reveal() for v in unit.compose.environment.values() if isinstance(v, Sensitive))
    return frozenset(v for v in found if v)


__all__ = [
    "HANDLERS",
    "ActionResult",
    "ApplyReport",
    "Drivers",
    "ExecuteOptions",
    "HostDrivers",
    "clean_leftovers",
    "execute",
    "execute_within",
    "plan_secrets",
    "up_services",
]
