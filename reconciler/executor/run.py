"""One run of a plan: bookkeeping, the order units run in, and the parameter writes in the
background. Does I/O (through the handlers and drivers).

The parameter unit (PutParameters, paced for SSM) runs in a thread of its
own from the start, so pulls and container work overlap it; each service
action waits only for the writes it reads (``ServiceAction.needs``), and is
skipped, stopping its stack there, when one of them failed. The other units
run one after the other in plan order (the stack units of one batch of a fleet's rollout
together, one thread per instance): a stack unit after its ``after``
units fully succeeded, the prune unit once everything else finished and
succeeded. Results and events are recorded under one lock, so the report and
the event stream stay whole whatever thread an action ran in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.actions import Action
from reconciler.core.address import parameter_address
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import ActionFinished, Event, EventSink, UnitFinished, UnitStarted
from reconciler.core.jobs import JobLedger
from reconciler.core.plan import PARAMETERS_UNIT, ROLLOUT_PREFIX, Plan, Unit
from reconciler.core.report import ActionResult, ApplyReport, Status
from reconciler.core.secrets import redact
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.registry.auth import RegistryAuth
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor.rollout import GONE, FleetDrivers, left_the_group


def _no_auth(registry: str) -> RegistryAuth | None:
    return None


@dataclass(frozen=True)
class HostDrivers:
    """The clients of one Docker host."""

    engine: DockerEngine
    compose: ComposeRunner


@dataclass(frozen=True)
class Drivers:
    ssm: SsmWriter | None  # None: the environment uses no AWS (its plans have no parameter action)
    hosts: Callable[[str], HostDrivers]  # host name -> its clients (raises WorldError when unreachable)
    registry_auth: Callable[[str], RegistryAuth | None] = _no_auth  # registry host -> pull credentials
    fleet: FleetDrivers | None = None  # the load balancer, alarms and probes of a fleet's rollout
    jobs: JobLedger | None = None  # where jobs that succeeded are recorded (the state store)


@dataclass(frozen=True)
class ExecuteOptions:
    health_timeout: float = 120.0  # seconds to wait for service_healthy / completed dependencies
    poll_interval: float = 0.2  # seconds between two looks at the services being waited for


UnitRunner = Callable[["Run", Unit], Status]


def _in_batch(unit: Unit) -> bool:
    """A stack unit of a fleet's rollout batch (it comes after the batch's leave unit)."""
    return unit.host is not None and any(a.startswith(ROLLOUT_PREFIX) for a in unit.after)


def _waves(units: list[Unit]) -> list[list[Unit]]:
    """``units`` in order, as waves run one after the other: the stack units of one rollout batch,
    on distinct instances and not waiting for each other, form one wave and run together; every
    other unit is a wave of its own."""
    waves: list[list[Unit]] = []
    for unit in units:
        last = waves[-1] if waves else None
        if (
            last is not None
            and _in_batch(unit)
            and all(_in_batch(u) for u in last)
            and unit.host not in {u.host for u in last}
            and not set(unit.after) & {u.id for u in last}
        ):
            last.append(unit)
        else:
            waves.append([unit])
    return waves


class Run:
    """The state of one execution: results by address, unit outcomes, the event sink."""

    def __init__(
        self,
        plan: Plan,
        drivers: Drivers,
        *,
        state_dir: Path,
        options: ExecuteOptions,
        emit: EventSink,
        secrets: frozenset[str],
    ) -> None:
        self.plan = plan
        self.drivers = drivers
        self.state_dir = state_dir
        self.options = options
        self.secrets = secrets
        self.results: dict[str, ActionResult] = {}  # address -> result
        self.units: dict[str, Status] = {}  # unit id -> outcome
        self._sink = emit
        self._changed = threading.Condition()
        self._emitting = threading.Lock()
        self._parameters_finished = False

    # ---- bookkeeping (thread-safe) -------------------------------------------

    def emit(self, event: Event) -> None:
        with self._emitting:
            self._sink(event)

    def mask(self, text: str) -> str:
        return redact(text, self.secrets)

    def record(
        self, action: Action, status: Status, message: str = "", *, temporary: bool = False, gone: bool = False
    ) -> None:
        message = self.mask(message)
        with self._changed:
            self.results[action.address] = ActionResult(action.address, action.kind, status, message, temporary, gone)
            self._changed.notify_all()
        self.emit(ActionFinished(action.address, action.kind, status, message))

    def recorded(self, action: Action) -> bool:
        with self._changed:
            return action.address in self.results

    def failure(self, exc: BaseException) -> str:
        if isinstance(exc, ReconcilerError):
            return str(exc)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    def wait_parameters(self, names: Iterable[str]) -> list[str]:
        """Block until the writes of ``names`` finished; the ones that did not succeed."""
        wanted = {name: parameter_address(name) for name in names}
        with self._changed:
            while not self._parameters_finished and any(a not in self.results for a in wanted.values()):
                self._changed.wait(timeout=1.0)
            return sorted(
                name
                for name, address in wanted.items()
                if (result := self.results.get(address)) is None or result.status != "done"
            )

    # ---- the plan --------------------------------------------------------------

    def execute(self, run_unit: UnitRunner) -> ApplyReport:
        units = list(self.plan.units)
        background: threading.Thread | None = None
        if units and units[0].id == PARAMETERS_UNIT:
            background = threading.Thread(
                target=self._parameters, args=(units.pop(0), run_unit), name="reconciler-parameters", daemon=True
            )
            background.start()
        else:
            self._parameters_done()
        try:
            for wave in _waves(units):
                if len(wave) > 1:
                    with ThreadPoolExecutor(max_workers=len(wave), thread_name_prefix="reconciler-batch") as pool:
                        list(pool.map(lambda u: self._unit(u, run_unit), wave))
                    continue
                unit = wave[0]
                if unit.requires_all and background is not None:
                    background.join()
                self._unit(unit, run_unit)
        finally:
            if background is not None:
                background.join()
        order = [a.address for a in self.plan.actions]
        return ApplyReport(tuple(self.results[address] for address in order if address in self.results))

    def _parameters(self, unit: Unit, run_unit: UnitRunner) -> None:
        try:
            self._unit(unit, run_unit)
        finally:
            self._parameters_done()

    def _parameters_done(self) -> None:
        with self._changed:
            self._parameters_finished = True
            self._changed.notify_all()

    def _unit(self, unit: Unit, run_unit: UnitRunner) -> None:
        blocked = self._blocked(unit)
        if blocked:
            for action in unit.actions:
                self.record(action, "skipped", blocked)
            status: Status = "skipped"
            self.emit(UnitFinished(unit.id, unit.host, unit.stack, status, blocked))
        else:
            self.emit(UnitStarted(unit.id, unit.host, unit.stack, len(unit.actions)))
            status = run_unit(self, unit)
            if status == "failed" and _in_batch(unit) and left_the_group(self.drivers.fleet, unit.host):
                for action in unit.actions:  # a gone instance is no failed rollout: the next batches go on
                    self.record(action, "skipped", GONE.format(unit.host), gone=True)
                status = "done"
            self.emit(UnitFinished(unit.id, unit.host, unit.stack, status))
        with self._changed:
            self.units[unit.id] = status

    def _blocked(self, unit: Unit) -> str:
        """Why ``unit`` must not run ("" when it may). Parameter needs are checked per service."""
        with self._changed:
            if unit.requires_all and any(r.status != "done" for r in self.results.values()):
                return "not done: an earlier action did not succeed"
            for earlier in unit.after:
                if self.units.get(earlier) != "done":
                    before = self.plan.unit(earlier)
                    where = f"host {before.host}" if before is not None and before.host else earlier
                    of = f" of stack {unit.stack}" if unit.stack else ""
                    return f"not done: {where}{of} did not complete"
        return ""

    def override_path(self, unit: Unit) -> Path:
        return self.state_dir / (unit.host or "_") / f"{unit.stack}.override.yml"

    def host(self, unit: Unit) -> HostDrivers:
        assert unit.host is not None
        return self.drivers.hosts(unit.host)
