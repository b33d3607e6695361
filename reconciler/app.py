"""Composition root: the only place clients are built and the layers are wired.

cli -> app -> (spec loader, observers, planner, executor, render). It loads an
environment folder, applies command-line/sandbox overrides, builds the AWS,
registry and Docker clients, observes the world, plans and applies. Not pure:
this is where I/O is assembled, but it holds no logic of its own beyond
ordering the steps.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import planner
from reconciler import render as render_mod
from reconciler.errors import ReconcilerError
from reconciler.model import DesiredState, ObservedState
from reconciler.plan import Plan
from reconciler.report import ApplyReport
from reconciler.spec.desired import RegistrySettings, build_desired, image_registries
from reconciler.spec.loader import LoadedEnvironment, load_environment

if TYPE_CHECKING:
    from reconciler.world import World

EventSink = Callable[[str], None]


@dataclass(frozen=True)
class Overrides:
    sandbox: bool = False
    aws_endpoint_url: str | None = None
    docker_host: str | None = None
    state_dir: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Where the world is, after overrides."""

    environment: str
    region: str
    aws_endpoint_url: str | None
    docker_host: str | None
    registries: dict[str, RegistrySettings]  # Images entry name -> registry
    state_dir: Path
    sandbox: bool


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    desired: DesiredState
    observed: ObservedState
    seconds: float = 0.0


def default_state_dir() -> Path:
    base = os.environ.get("RECONCILER_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "reconciler"


def validate(env_dir: Path) -> str:
    """Load and validate without building any client; raises SpecError."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "(unchecked)")
    n_params = len(desired.parameters)
    n_services = sum(len(s.services) for s in desired.stacks)
    return (
        f"{env_dir}: valid — environment {desired.environment}, {n_params} parameter(s), "
        f"{len(desired.images)} image(s), {len(desired.stacks)} stack(s) with {n_services} service(s)."
    )


def _apply_overrides(
    loaded: LoadedEnvironment, desired: DesiredState, overrides: Overrides
) -> tuple[DesiredState, Settings]:
    env = loaded.environment.spec
    registries = dict(image_registries(loaded))
    endpoint = env.aws.endpoint_url
    docker_host = env.docker.host if env.docker else None
    if overrides.sandbox:
        from reconciler.sandbox import endpoints

        where = endpoints()  # honours RECONCILER_SANDBOX_MOTO_PORT / _REGISTRY_PORT
        endpoint = where.moto_url
        docker_host = where.docker_host
        sandbox_registry = RegistrySettings(
            type="oci", host=where.registry, insecure=True, account_id=None, region=env.aws.region
        )
        registries = {name: sandbox_registry for name in registries}
        images = tuple(dataclasses.replace(ref, registry=where.registry) for ref in desired.images)
        by_name = {ref.name: ref for ref in images}
        stacks = tuple(
            dataclasses.replace(
                stack,
                services=tuple(
                    dataclasses.replace(svc, image=by_name[svc.image.name]) if svc.image else svc
                    for svc in stack.services
                ),
            )
            for stack in desired.stacks
        )
        desired = dataclasses.replace(desired, images=images, stacks=stacks)
    if overrides.aws_endpoint_url:
        endpoint = overrides.aws_endpoint_url
    if overrides.docker_host:
        docker_host = overrides.docker_host
    settings = Settings(
        environment=desired.environment,
        region=env.aws.region,
        aws_endpoint_url=endpoint,
        docker_host=docker_host,
        registries=registries,
        state_dir=overrides.state_dir or default_state_dir(),
        sandbox=overrides.sandbox,
    )
    return desired, settings


def open_environment(env_dir: Path, overrides: Overrides, on_event: EventSink) -> EnvironmentContext:
    """Load and validate the specs (no I/O beyond the files), then build clients."""
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, os.environ.get)
    desired, settings = _apply_overrides(loaded, desired, overrides)
    from reconciler.world import World  # drivers are imported only once the specs are valid

    world = World.connect(settings, on_event)
    return EnvironmentContext(desired=desired, settings=settings, world=world, on_event=on_event)


@dataclass
class EnvironmentContext:
    desired: DesiredState
    settings: Settings
    world: World
    on_event: EventSink
    history: list[PlanResult] = field(default_factory=list)

    def observe(self) -> ObservedState:
        return self.world.observe(self.desired)

    def plan(self) -> PlanResult:
        observed = self.observe()
        start = time.perf_counter()
        the_plan = planner.plan(self.desired, observed)
        result = PlanResult(the_plan, self.desired, observed, time.perf_counter() - start)
        self.history.append(result)
        return result

    def apply(self, result: PlanResult) -> ApplyReport:
        return self.world.apply(result.plan, result.desired, result.observed)

    def status(self, color: bool) -> str:
        result = self.plan()
        return render_mod.render_status(result.plan, result.desired, result.observed, color=color)

    def close(self) -> None:
        self.world.close()


def render(plan: Plan, fmt: str, *, color: bool, verbose: bool) -> str:
    if fmt == "json":
        return render_mod.render_json(plan)
    if fmt == "markdown":
        return render_mod.render_markdown(plan)
    return render_mod.render_text(plan, color=color, verbose=verbose)


def render_report(report: ApplyReport, *, color: bool) -> str:
    return render_mod.render_report(report, color=color)


def plan_signature(plan: Plan) -> tuple[tuple[str, str, str], ...]:
    return tuple((a.kind, a.address, a.reason) for a in plan.actions)


def sandbox(action: str, state_dir: Path | None, say: EventSink, out: object) -> int:
    from reconciler import sandbox as sb

    folder = state_dir or sb.default_state_dir()
    if action == "up":
        info = sb.up(folder, on_event=say)
        say(f"Sandbox ready: AWS (moto) {info.moto_url}, registry {info.registry}, Docker {info.docker_host}")
        say("Engines: " + ", ".join(f"{e.name} {e.docker_host}" for e in info.engines))
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
