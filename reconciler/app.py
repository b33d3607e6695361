"""Composition root: the only place clients are built and the layers are wired.

cli -> app -> (spec loader, world, planner, reconcile flow, render). It loads
an environment folder, resolves overrides (:mod:`reconciler.settings`),
builds the :class:`~reconciler.world.World` (AWS, registries, every Docker
host) and hands an :class:`EnvironmentContext` to the reconcile flow
(:mod:`reconciler.reconcile`). Not pure: this is where I/O is assembled,
but it holds no logic of its own beyond ordering the steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import planner
from reconciler import render as render_mod
from reconciler.errors import ReconcilerError
from reconciler.events import EventSink, PlanReady, PlanStarted, discard
from reconciler.model import DesiredState, ObservedState
from reconciler.plan import Plan
from reconciler.report import ApplyReport
from reconciler.settings import Overrides, SandboxWorld, Settings, resolve_settings
from reconciler.spec.desired import build_desired, image_registries
from reconciler.spec.loader import load_environment

if TYPE_CHECKING:
    from reconciler.world import World

__all__ = ["EnvironmentContext", "Overrides", "PlanResult", "open_environment", "sandbox", "validate"]


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    desired: DesiredState
    observed: ObservedState
    seconds: float = 0.0


def _check_with_compose(desired: DesiredState) -> str:
    """Compose's own offline check of every stack's file (raises SpecError); a note when Compose
    is not installed."""
    from reconciler.compose_check import check_compose_files, compose_runner

    runner = compose_runner()
    if runner is None:
        return " Compose v2 is not installed: compose files were checked by the reconciler's rules only."
    check_compose_files(desired, runner)
    return ""


def validate(env_dir: Path) -> str:
    """Load and validate (Compose checks the compose files offline); no AWS or Docker call.
    Raises SpecError."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(unchecked)")
    note = _check_with_compose(desired)
    n_params = len(desired.parameters)
    n_services = sum(len(s.services) for s in desired.stacks)
    hosts = ", ".join(h.name for h in desired.hosts)
    return (
        f"{env_dir}: valid — environment {desired.environment}, {n_params} parameter(s), "
        f"{len(desired.images)} image(s), {len(desired.stacks)} stack(s) with {n_services} service(s), "
        f"host(s) {hosts}.{note}"
    )


def _sandbox_world() -> SandboxWorld:
    from reconciler import sandbox as sb

    where = sb.endpoints()  # honours RECONCILER_SANDBOX_* (ports, engines); no I/O
    engines = tuple(e.docker_host for e in where.engines) or (where.docker_host,)
    return SandboxWorld(moto_url=where.moto_url, registry=where.registry, engines=engines)


def open_environment(
    env_dir: Path, overrides: Overrides, *, read_only: bool, on_event: EventSink = discard
) -> EnvironmentContext:
    """Load and validate the specs (no I/O beyond the files), then build clients.

    ``read_only`` clients refuse every mutating call (plan, status)."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, os.environ.get)
    # Compose's offline check runs while the world is read; nothing is planned or changed (and
    # no other error is reported) before it passed.
    check = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose-check")
    checked = check.submit(_check_with_compose, desired)
    check.shutdown(wait=False)
    try:
        env = loaded.environment.spec
        desired, settings = resolve_settings(
            desired,
            image_registries(loaded),
            env.aws.region,
            env.aws.endpoint_url,
            overrides,
            _sandbox_world() if overrides.sandbox else None,
        )
        from reconciler.world import World  # drivers are imported only once the specs are valid

        world = World.connect(settings, read_only=read_only)
    except BaseException:
        checked.result()  # a file Compose refuses is the error to report
        raise
    return EnvironmentContext(desired=desired, settings=settings, world=world, on_event=on_event, checked=checked)


@dataclass
class EnvironmentContext:
    """One environment with its clients: observe, plan, re-check, apply."""

    desired: DesiredState
    settings: Settings
    world: World
    on_event: EventSink = discard
    history: list[PlanResult] = field(default_factory=list)
    checked: Future[str] | None = None  # Compose's check of the compose files (raises SpecError)

    def observe(self) -> ObservedState:
        return self.world.observe(self.desired, self.on_event)

    def compose_checked(self) -> None:
        """Wait for Compose's check of the compose files; raises SpecError when it refused one."""
        if self.checked is not None:
            self.checked.result()

    def plan(self) -> PlanResult:
        self.on_event(PlanStarted(self.desired.environment))
        try:
            observed = self.observe()
        except BaseException:
            self.compose_checked()  # a file Compose refuses is the error to report
            raise
        self.compose_checked()
        start = time.perf_counter()
        the_plan = planner.plan(self.desired, observed)
        result = PlanResult(the_plan, self.desired, observed, time.perf_counter() - start)
        self.on_event(
            PlanReady(self.desired.environment, len(the_plan.actions), len(the_plan.problems), result.seconds)
        )
        self.history.append(result)
        return result

    def lock(
        self, command: str, timeout: float, on_wait: Callable[[str], None] = lambda _: None
    ) -> AbstractContextManager[object]:
        """The environment's exclusive lock on this machine (held by apply for the whole run)."""
        from reconciler.drivers.lock import Holder, environment_lock

        def waiting(holder: Holder | None) -> None:
            who = holder.describe() if holder else "another run"
            on_wait(f"environment {self.desired.environment} is locked by {who}; waiting up to {timeout:g}s")

        return environment_lock(
            self.settings.state_dir, self.desired.environment, command=command, timeout=timeout, on_wait=waiting
        )

    def recheck(self, plan: Plan) -> list[str]:
        return self.world.recheck(plan)

    def apply(self, plan: Plan) -> ApplyReport:
        return self.world.apply(plan, self.on_event)

    def status(self, color: bool) -> str:
        result = self.plan()
        return render_mod.render_status(result.plan, result.desired, result.observed, color=color)

    def close(self) -> None:
        if self.checked is not None:
            wait([self.checked])
        self.world.close()


def sandbox(action: str, state_dir: Path | None, say: Callable[[str], None]) -> int:
    from reconciler import sandbox as sb

    folder = state_dir or sb.default_state_dir()
    if action == "up":
        info = sb.up(folder, on_event=say)
        engines = ", ".join(f"{e.name} {e.docker_host}" for e in info.engines)
        say(f"Sandbox ready: AWS (moto) {info.moto_url}, registry {info.registry}, Docker engines: {engines}")
        return 0
    if action == "down":
        sb.down(folder, on_event=say)
        return 0
    if action == "status":
        for key, value in sb.status(folder).items():
            if key == "engines":
                for e in value:
                    state = f"running {e['version']}" if e["running"] else "not running"
                    managed = f", started by the sandbox (pid {e['pid']})" if e["managed"] else ""
                    say(f"engine {e['name']}: {e['docker_host']} {state}{managed}")
            else:
                say(f"{key}: {value}")
        return 0
    raise ReconcilerError(f"unknown sandbox action {action!r}")
