"""The executor's service part: services started one dependency level at a time, and the
networks and volumes Compose creates with them. Does I/O (through Compose and the engine driver).

:func:`up_services` starts the services of one level with one ``docker compose up`` (one more
with ``--force-recreate`` for the recreates) and waits for all that later services wait for in
one polling loop; a recreate whose containers already run the target is "already current".
The handler of one such action (:func:`one_service`) is a level of one.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.actions import (
    Action,
    CreateService,
    ExpectNetwork,
    ExpectVolume,
    RecreateService,
    ServiceAction,
    StartService,
)
from reconciler.core.errors import ReconcilerError, TemporaryError
from reconciler.core.events import ActionStarted, WaitProgress
from reconciler.core.model import CONFIG_HASH_KEY, OWNER_KEY, reveal
from reconciler.core.plan import Unit
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.waits import Condition
from reconciler.executor.run import HostDrivers, Run

__all__ = ["LevelFailed", "Outcome", "expect_network", "expect_volume", "one_service", "up_services"]


class LevelFailed(ReconcilerError):
    """A service of a level failed (the message names it); ``temporary`` as its cause was."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary
Outcome = tuple[bool, str, bool]  # (succeeded, message, temporary)


_DOING = {CreateService: "creating", RecreateService: "recreating", StartService: "starting"}
_DONE = {CreateService: "created", RecreateService: "recreated", StartService: "started"}


def up_services(run: Run, unit: Unit, actions: Sequence[ServiceAction]) -> dict[str, Outcome]:
    """Create/recreate/start services that do not depend on each other: one ``compose up`` for
    the ones to (re)create or start, one with ``--force-recreate`` for the recreates, then one
    wait for all that later services wait for. Address -> (succeeded, message)."""
    assert unit.compose is not None
    drivers = run.host(unit)
    outcomes: dict[str, Outcome] = {}
    notes: dict[str, str] = {}
    plain = [a for a in actions if not isinstance(a, RecreateService)]
    recreate: list[ServiceAction] = []
    for action in actions:
        if isinstance(action, RecreateService):
            if _already_current(drivers.engine, action):
                notes[action.address] = "already current"
            else:
                recreate.append(action)
    started = [a for a in actions if a.address in notes]
    for group, force in ((plain, False), (recreate, True)):
        if not group:
            continue
        for action in group:
            run.emit(ActionStarted(action.address, action.kind, f"{_DOING[type(action)]} with docker compose"))
        try:
            _compose_up(run, unit, drivers, [a.service for a in group], force)
        except Exception as exc:
            message = run.failure(exc)
            outcomes.update({a.address: (False, message, isinstance(exc, TemporaryError)) for a in group})
            continue
        started.extend(group)
    failures = _wait(run, drivers, started)
    for action in started:
        if action.address in failures:
            outcomes[action.address] = (False, *failures[action.address])
            continue
        done = notes.get(action.address) or _DONE[type(action)]
        if action.wait_healthy:
            done += " and healthy"
        elif action.wait_completed:
            done += " and completed"
        outcomes[action.address] = (True, done, False)
    return outcomes


def _compose_up(run: Run, unit: Unit, drivers: HostDrivers, services: list[str], force: bool) -> None:
    compose = unit.compose
    assert compose is not None
    drivers.compose.up(
        compose.project,
        compose.project_dir,
        [compose.compose_file, run.override_path(unit)],
        services,
        environment={key: reveal(value) for key, value in compose.environment.items()},
        force_recreate=force,
        secrets=run.secrets,
    )


def _wait(run: Run, drivers: HostDrivers, started: Sequence[ServiceAction]) -> dict[str, tuple[str, bool]]:
    """Wait for every started service a later one depends on; address -> (failure, temporary)."""
    waited = [a for a in started if a.wait_healthy or a.wait_completed]
    if not waited:
        return {}
    opts = run.options
    wanted: dict[str, Condition] = {}
    for action in waited:
        condition: Condition = "healthy" if action.wait_healthy else "completed"
        wanted[action.service] = condition
        run.emit(WaitProgress(action.address, condition, 0.0, opts.health_timeout))
    try:
        failed = drivers.engine.wait_services(
            waited[0].project,
            wanted,
            timeout=opts.health_timeout,
            interval=opts.poll_interval,
            secrets=run.secrets,
        )
    except Exception as exc:
        message = run.failure(exc)
        return {a.address: (message, isinstance(exc, TemporaryError)) for a in waited}
    return {a.address: (run.failure(failed[a.service]), False) for a in waited if a.service in failed}


def one_service(run: Run, unit: Unit, action: Action) -> str:
    """A dependency level of one service."""
    assert isinstance(action, ServiceAction)
    ok, message, temporary = up_services(run, unit, [action])[action.address]
    if not ok:
        raise LevelFailed(message, temporary=temporary)
    return message


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


def expect_network(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, ExpectNetwork)
    if not run.host(unit).engine.network_exists(action.project, action.key):
        raise ReconcilerError(f"network {action.key} of project {action.project} was not created")
    return "created by Compose"


def expect_volume(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, ExpectVolume)
    if not run.host(unit).engine.volume_exists(action.project, action.key):
        raise ReconcilerError(f"volume {action.key} of project {action.project} was not created")
    return "created by Compose"
