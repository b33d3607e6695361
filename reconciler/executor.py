"""Run a Plan with the drivers, unit by unit. Does I/O (through drivers).

The plan is a complete program: the executor never calls the planner and
needs neither the desired nor the observed state. Units run in plan order.
A unit runs only when the units it comes ``after`` fully succeeded, the
parameter writes it ``needs`` succeeded and, for the prune unit, when
nothing failed; otherwise every action of it is reported "skipped" with the
reason (which host, which parameter). Within a stack unit the first failure
stops the unit (the rest is "not done"), and the same stack's later hosts
are skipped; other stacks go on. Parameter writes and prunes are
independent of each other. Every action goes through one table,
:data:`HANDLERS` (action type -> handler), and is safe to repeat.

Compose gets the stack's interpolation values (secrets included) in its
process environment, never in a file; the override (no secrets) is written
per host and stack in the 0700 state dir. Report messages and events never
contain secret values.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML

from reconciler.address import parameter_address
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker import DockerEngine
from reconciler.drivers.registry import RegistryAuth
from reconciler.drivers.ssm import SsmWriter
from reconciler.errors import ReconcilerError
from reconciler.events import (
    ActionFinished,
    ActionStarted,
    EventSink,
    LeftoverRemoved,
    UnitFinished,
    UnitStarted,
    WaitProgress,
    discard,
)
from reconciler.model import CONFIG_HASH_KEY, OWNER_KEY, Sensitive, reveal
from reconciler.plan import (
    Action,
    CreateService,
    DeleteParameter,
    ExpectNetwork,
    ExpectVolume,
    Plan,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveContainer,
    RemoveNetwork,
    RemoveService,
    ServiceAction,
    StartService,
    Unit,
)
from reconciler.report import ActionResult, ApplyReport, Status
from reconciler.secrets import redact


def _no_auth(registry: str) -> RegistryAuth | None:
    return None


@dataclass(frozen=True)
class HostDrivers:
    """The clients of one Docker host."""

    engine: DockerEngine
    compose: ComposeRunner


@dataclass(frozen=True)
class Drivers:
    ssm: SsmWriter
    hosts: Callable[[str], HostDrivers]  # host name -> its clients (raises WorldError when unreachable)
    registry_auth: Callable[[str], RegistryAuth | None] = _no_auth  # registry host -> pull credentials


@dataclass(frozen=True)
class ExecuteOptions:
    health_timeout: float = 120.0  # seconds to wait for service_healthy / completed dependencies
    poll_interval: float = 1.0


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
    run = _Run(
        plan=plan,
        drivers=drivers,
        state_dir=state_dir,
        options=options or ExecuteOptions(),
        emit=on_event,
        secrets=plan_secrets(plan),
    )
    return run.execute()


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


class _Stop(Exception):
    """Internal: an action of the unit failed; the rest of the unit is not done."""


@dataclass
class _Run:
    plan: Plan
    drivers: Drivers
    state_dir: Path
    options: ExecuteOptions
    emit: EventSink
    secrets: frozenset[str]
    results: dict[str, ActionResult] = field(default_factory=dict)  # address -> result
    units: dict[str, Status] = field(default_factory=dict)  # unit id -> outcome

    # ---- bookkeeping ---------------------------------------------------------

    def mask(self, text: str) -> str:
        return redact(text, self.secrets)

    def _record(self, action: Action, status: Status, message: str = "") -> None:
        message = self.mask(message)
        self.results[action.address] = ActionResult(action.address, action.kind, status, message)
        self.emit(ActionFinished(action.address, action.kind, status, message))

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, ReconcilerError):
            return str(exc)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    # ---- the plan ------------------------------------------------------------

    def execute(self) -> ApplyReport:
        for unit in self.plan.units:
            blocked = self._blocked(unit)
            if blocked:
                for action in unit.actions:
                    self._record(action, "skipped", blocked)
                self.units[unit.id] = "skipped"
                self.emit(UnitFinished(unit.id, unit.host, unit.stack, "skipped", blocked))
                continue
            self.emit(UnitStarted(unit.id, unit.host, unit.stack, len(unit.actions)))
            status = self._unit(unit)
            self.units[unit.id] = status
            self.emit(UnitFinished(unit.id, unit.host, unit.stack, status))
        order = [a.address for a in self.plan.actions]
        return ApplyReport(tuple(self.results[address] for address in order if address in self.results))

    def _blocked(self, unit: Unit) -> str:
        """Why ``unit`` must not run ("" when it may)."""
        if unit.requires_all and any(r.status != "done" for r in self.results.values()):
            return "not done: an earlier action did not succeed"
        for earlier in unit.after:
            if self.units.get(earlier) != "done":
                before = self.plan.unit(earlier)
                where = f"host {before.host}" if before is not None and before.host else earlier
                return f"not done: {where} of stack {unit.stack} did not complete"
        failed = sorted(
            name
            for name in unit.needs
            if (result := self.results.get(parameter_address(name))) is not None and result.status != "done"
        )
        if failed:
            return f"skipped: parameter {', '.join(failed)} failed"
        return ""

    def _unit(self, unit: Unit) -> Status:
        stops = unit.stack is not None
        # Networks and volumes are checked after the services that make them.
        deferred = [a for a in unit.actions if isinstance(a, ExpectNetwork | ExpectVolume)]
        ordered = [a for a in unit.actions if a not in deferred] + deferred
        status: Status = "done"
        for index, action in enumerate(ordered):
            try:
                if index == 0 and unit.compose is not None:
                    self._prepare(unit)
                handler = HANDLERS.get(type(action))
                if handler is None:
                    raise ReconcilerError(f"the executor cannot apply a {action.kind} action")
                message = handler(self, unit, action)
            except Exception as exc:
                self._record(action, "failed", self._failure(exc))
                status = "failed"
                if stops:
                    where = f" on host {unit.host}" if unit.host else ""
                    for rest in ordered[index + 1 :]:
                        self._record(rest, "skipped", f"not done: stack {unit.stack}{where} stopped after a failure")
                    break
                continue
            self._record(action, "done", message)
        return status

    # ---- files and clients ---------------------------------------------------

    def override_path(self, unit: Unit) -> Path:
        return self.state_dir / (unit.host or "_") / f"{unit.stack}.override.yml"

    def _prepare(self, unit: Unit) -> None:
        assert unit.compose is not None
        path = self.override_path(unit)
        try:
            ensure_private_dir(self.state_dir)
            ensure_private_dir(path.parent)
            write_private(path, _yaml(unit.compose.override), mode=0o600)
        except OSError as exc:
            raise ReconcilerError(f"cannot write the stack's override {path}: {exc.strerror}") from None

    def host(self, unit: Unit) -> HostDrivers:
        assert unit.host is not None
        return self.drivers.hosts(unit.host)


# --------------------------------------------------------------------------
# handlers: one per action type
# --------------------------------------------------------------------------

Handler = Callable[[_Run, Unit, Action], str]


def _put(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, PutParameter)
    run.emit(ActionStarted(action.address, action.kind, "creating" if action.create else "updating"))
    tags = dict(action.tags) if action.create or action.adopt else None
    return run.drivers.ssm.put(action.name, action.type, action.value, overwrite=not action.create, tags=tags)


def _delete(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, DeleteParameter)
    run.emit(ActionStarted(action.address, action.kind, "deleting"))
    outcome = run.drivers.ssm.delete(action.name, expected_owner=action.owner)
    return "already absent" if outcome == "absent" else "deleted"


def _pull(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, PullImage)
    run.emit(ActionStarted(action.address, action.kind, f"pulling {action.reference}"))
    pulled = run.host(unit).engine.pull(action.reference, run.drivers.registry_auth(action.registry))
    return "pulled" if pulled else "already present"


def _expect_network(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, ExpectNetwork)
    if not run.host(unit).engine.network_exists(action.project, action.key):
        raise ReconcilerError(f"network {action.key} of project {action.project} was not created")
    return "created by Compose"


def _expect_volume(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, ExpectVolume)
    if not run.host(unit).engine.volume_exists(action.project, action.key):
        raise ReconcilerError(f"volume {action.key} of project {action.project} was not created")
    return "created by Compose"


def _remove(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveService)
    engine = run.host(unit).engine
    ids = action.container_ids or tuple(
        str(c["Id"])
        for c in engine.service_containers(action.project, action.service)
        if (c.get("Labels") or {}).get(OWNER_KEY) == action.owner
    )
    removed = engine.remove_containers(ids, expected_owner=action.owner)
    return f"removed {removed} container(s)"


def _remove_container(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveContainer)
    run.emit(ActionStarted(action.address, action.kind, f"removing {action.name}"))
    removed = run.host(unit).engine.remove_containers([action.container_id], expected_owner=action.owner)
    return "removed" if removed else "already gone"


def _remove_network(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveNetwork)
    run.emit(ActionStarted(action.address, action.kind, f"removing the duplicate network {action.network_id[:12]}"))
    return "removed" if run.host(unit).engine.remove_network(action.network_id) else "already gone"


_DOING = {CreateService: "creating", RecreateService: "recreating", StartService: "starting"}
_DONE = {CreateService: "created", RecreateService: "recreated", StartService: "started"}


def _compose_up(run: _Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, ServiceAction) and unit.compose is not None
    drivers = run.host(unit)
    recreate = isinstance(action, RecreateService)
    note = ""
    if recreate and _already_current(drivers.engine, action):
        note = "already current"
    else:
        run.emit(ActionStarted(action.address, action.kind, f"{_DOING[type(action)]} with docker compose"))
        compose = unit.compose
        drivers.compose.up(
            compose.project,
            compose.project_dir,
            [compose.compose_file, run.override_path(unit)],
            action.service,
            environment={key: reveal(value) for key, value in compose.environment.items()},
            force_recreate=recreate,
            secrets=run.secrets,
        )
    opts = run.options
    waits = (
        (action.wait_healthy, "healthy", drivers.engine.wait_healthy),
        (action.wait_completed, "completed", drivers.engine.wait_completed),
    )
    for wanted, condition, wait in waits:
        if wanted:
            run.emit(WaitProgress(action.address, condition, 0.0, opts.health_timeout))
            wait(
                action.project,
                action.service,
                timeout=opts.health_timeout,
                interval=opts.poll_interval,
                secrets=run.secrets,
            )
    done = note or _DONE[type(action)]
    if action.wait_healthy:
        return done + " and healthy"
    return done + " and completed" if action.wait_completed else done


def _already_current(engine: DockerEngine, action: ServiceAction) -> bool:
    """A repeated recreate: every container already runs with the target hash and owner."""
    if not action.config_hash:
        return False
    containers = engine.service_containers(action.project, action.service)
    return bool(containers) and all(
        (c.get("Labels") or {}).get(CONFIG_HASH_KEY) == action.config_hash
        and (c.get("Labels") or {}).get(OWNER_KEY) == action.owner
        and c.get("State") == "running"
        and c.get("Id") not in action.container_ids
        for c in containers
    )


HANDLERS: Mapping[type[Action], Handler] = {
    PutParameter: _put,
    DeleteParameter: _delete,
    PullImage: _pull,
    ExpectNetwork: _expect_network,
    ExpectVolume: _expect_volume,
    CreateService: _compose_up,
    RecreateService: _compose_up,
    StartService: _compose_up,
    RemoveService: _remove,
    RemoveContainer: _remove_container,
    RemoveNetwork: _remove_network,
}


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (0700) or tighten it to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write atomically: a new file created with ``mode`` (never wider), then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _yaml(document: Mapping[str, object]) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    out = StringIO()
    out.write("# Written by the reconciler for every apply; no secrets (Compose gets them in its environment).\n")
    yaml.dump(_plain(document), out)
    return out.getvalue()


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


__all__ = [
    "HANDLERS",
    "ActionResult",
    "ApplyReport",
    "Drivers",
    "ExecuteOptions",
    "HostDrivers",
    "execute",
    "plan_secrets",
]
