"""Composition root: the only place clients are built and the layers are wired.

cli -> app -> (spec loader, world, planner, reconcile flow, render). It loads
an environment folder, resolves overrides (:mod:`reconciler.app.settings`),
builds the :class:`~reconciler.app.world.World` (AWS, registries, every Docker
host) and hands an :class:`EnvironmentContext` to the reconcile flow
(:mod:`reconciler.app.reconcile`). Not pure: this is where I/O is assembled,
but it holds no logic of its own beyond ordering the steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.app.settings import Overrides, Settings, default_state_dir, resolve_settings
from reconciler.core.events import EventSink, PlanReady, PlanStarted, discard
from reconciler.core.model import DEFAULT_STATE_TABLE, DesiredState, StateStoreSpec
from reconciler.core.observed import ObservedState
from reconciler.spec.desired import GetEnv, build_desired, image_registries
from reconciler.spec.loader import load_environment
from reconciler.state.lease import LEASE_TTL

if TYPE_CHECKING:
    from reconciler.app.reconcile import Outcome
    from reconciler.app.world import World
    from reconciler.core.plan import Plan
    from reconciler.core.report import ApplyReport
    from reconciler.drivers.state.heartbeat import Heartbeat
    from reconciler.spec.documents import StateStoreSection
    from reconciler.spec.loader import LoadedEnvironment
    from reconciler.state import Lease, StateStore

__all__ = ["EnvironmentContext", "Overrides", "PlanResult", "open_environment", "resolved_environment", "validate"]


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    desired: DesiredState
    observed: ObservedState
    seconds: float = 0.0


def _check_with_compose(desired: DesiredState, state_dir: Path | None = None) -> str:
    """Compose's own offline check of every stack's file (raises SpecError); a note when Compose
    is not installed. With ``state_dir``, checks that passed before with the same inputs are not
    run again (validate, plan, apply and every tick of the loop)."""
    from reconciler.app.compose_check import CheckCache, check_compose_files, compose_runner

    cache = CheckCache(state_dir / "compose-checks.json") if state_dir is not None else None
    if not check_compose_files(desired, compose_runner, cache):
        return " Compose v2 is not installed: compose files were checked by the reconciler's rules only."
    return ""


def validate(env_dir: Path, state_dir: Path | None = None) -> str:
    """Load and validate (Compose checks the compose files offline, the checks that passed cached
    in ``state_dir``, default :func:`default_state_dir`); no AWS or Docker call. Raises SpecError."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(unchecked)")
    note = _check_with_compose(desired, state_dir or default_state_dir())
    n_params = len(desired.parameters)
    n_services = sum(len(s.services) for s in desired.stacks)
    hosts = ", ".join(h.name for h in desired.hosts)
    return (
        f"{env_dir}: valid — environment {desired.environment}, {n_params} parameter(s), "
        f"{len(desired.images)} image(s), {len(desired.stacks)} stack(s) with {n_services} service(s), "
        f"host(s) {hosts}.{note}"
    )


def _state_store(section: StateStoreSection | None) -> StateStoreSpec:
    if section is None:
        return StateStoreSpec()
    return StateStoreSpec(type=section.type, table=section.table or DEFAULT_STATE_TABLE)


def _resolve(
    loaded: LoadedEnvironment, desired: DesiredState, overrides: Overrides, getenv: GetEnv = lambda _name: "(unchecked)"
) -> tuple[DesiredState, Settings]:
    env = loaded.environment.spec
    return resolve_settings(
        desired,
        image_registries(loaded, getenv),
        env.aws.region if env.aws is not None else None,
        env.aws.endpoint_url if env.aws is not None else None,
        overrides,
        self_heal=env.self_heal,
        state_store=_state_store(env.state_store),
        notifications=tuple(n.destination() for n in env.notifications),
    )


def environment_settings(env_dir: Path, overrides: Overrides) -> Settings:
    """The environment's settings (name, AWS, hosts, state store) from its specs; no client is built
    and no secret needs to be set (status, history, suspend, the loop's lease)."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(unchecked)")
    return _resolve(loaded, desired, overrides)[1]


def resolved_environment(env_dir: Path, overrides: Overrides) -> tuple[LoadedEnvironment, DesiredState, Settings]:
    """The folder's documents, its desired state and settings after overrides; no client is built and
    no secret needs to be set (set-image and image-update read the Images documents and registries)."""
    loaded = load_environment(env_dir)
    desired, settings = _resolve(loaded, build_desired(loaded, lambda _name: "(unchecked)"), overrides)
    return loaded, desired, settings


def open_environment(
    env_dir: Path,
    overrides: Overrides,
    *,
    read_only: bool,
    on_event: EventSink = discard,
    adjust: Callable[[DesiredState], DesiredState] | None = None,
) -> EnvironmentContext:
    """Load and validate the specs (no I/O beyond the files), then build clients.

    ``read_only`` clients refuse every mutating call (plan, status). ``adjust`` changes the desired
    state before it is checked and planned (``promote`` plans the destination with the new tags)."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, os.environ.get)
    desired, settings = _resolve(loaded, desired, overrides, os.environ.get)
    if adjust is not None:
        desired = adjust(desired)
    _check_with_compose(desired, settings.state_dir)  # nothing is observed or changed for a file Compose refuses
    from reconciler.app.world import World  # drivers are imported only once the specs are valid

    world = World.connect(settings, read_only=read_only)
    return EnvironmentContext(desired=desired, settings=settings, world=world, on_event=on_event)


@dataclass
class EnvironmentContext:
    """One environment with its clients: observe, plan, re-check, apply."""

    desired: DesiredState
    settings: Settings
    world: World
    on_event: EventSink = discard
    history: list[PlanResult] = field(default_factory=list)
    _store: StateStore | None = None

    def observe(self) -> ObservedState:
        return self.world.observe(self.desired, self.on_event)

    def plan(self) -> PlanResult:
        self.on_event(PlanStarted(self.desired.environment))
        observed = self.observe()
        from reconciler import planner

        start = time.perf_counter()
        the_plan = planner.plan(self.desired, observed)
        result = PlanResult(the_plan, self.desired, observed, time.perf_counter() - start)
        self.on_event(
            PlanReady(self.desired.environment, len(the_plan.actions), len(the_plan.problems), result.seconds)
        )
        self.history.append(result)
        return result

    def state_store(self) -> StateStore:
        """The environment's lease, status and history (settings.state_store)."""
        if self._store is None:
            from reconciler.app.statestore import open_state_store

            self._store = open_state_store(self.settings)
        return self._store

    def lock(
        self, command: str, timeout: float, on_wait: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[Heartbeat]:
        """The environment's exclusive lease (held by apply for the whole run, renewed by a
        heartbeat): a loop, another apply or a rollback never act at the same time. A holder of this
        machine that is gone (killed) is taken over at once; ``on_wait`` is told so, in one line."""
        from reconciler.drivers.state import this_process
        from reconciler.drivers.state.heartbeat import holding
        from reconciler.state import takeover_line

        def waiting(holder: Lease) -> None:
            on_wait(
                f"environment {self.desired.environment} is held by {holder.describe()}; waiting up to {timeout:g}s"
            )

        return holding(
            self.state_store(),
            self.desired.environment,
            this_process(command),
            LEASE_TTL,
            wait=timeout,
            on_wait=waiting,
            on_takeover=lambda previous: on_wait(takeover_line(previous)),
        )

    def record_apply(self, lease: Lease, outcome: Outcome, started: float, command: str) -> None:
        """A manual apply in the environment's history (trigger manual, by this user), under ``lease``."""
        import getpass
        import socket

        from reconciler.state import HistoryEntry, Trigger
        from reconciler.state.records import action_counts, apply_result, failures, reasons

        plan, report = outcome.plan, outcome.report
        result = apply_result(plan, report)
        error = None if report is not None and report.ok and not plan.problems else failures(plan, report)
        entry = HistoryEntry(
            environment=self.desired.environment,
            revision=None,
            started_at=started,
            finished_at=time.time(),
            trigger=Trigger.MANUAL,
            actor=f"{getpass.getuser()}@{socket.gethostname()}",
            result=result,
            actions=action_counts(plan, report),
            reason=f"{command}: {reasons(plan)}",
            error=error,
        )
        self.state_store().append_history(lease, entry)

    def recheck(self, plan: Plan) -> list[str]:
        return self.world.recheck(plan)

    def apply(self, plan: Plan) -> ApplyReport:
        planned = next((r for r in reversed(self.history) if r.plan is plan), None)
        last = planned or (self.history[-1] if self.history else None)
        return self.world.apply(plan, self.on_event, (last.desired, last.observed) if last is not None else None)

    def status(self, color: bool) -> str:
        result = self.plan()
        from reconciler import planner, render

        desired = planner.expand_fleets(result.desired, result.observed.fleets)  # a fleet's instances are its hosts
        return render.render_status(result.plan, desired, result.observed, color=color)

    def close(self) -> None:
        self.world.close()
