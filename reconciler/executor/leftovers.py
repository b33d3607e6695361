"""The executor's part for what the planner's leftovers remove: orphaned services, containers
left by an interrupted recreate or an extra replica, duplicate networks. Does I/O (through the
engine driver).

Every removal checks the owner label first (``expected_owner``) and is safe to repeat: what is
already gone is reported as such.
"""

from __future__ import annotations

from reconciler.core.actions import Action, RemoveContainer, RemoveNetwork, RemoveService
from reconciler.core.events import ActionStarted
from reconciler.core.model import OWNER_KEY
from reconciler.core.plan import Unit
from reconciler.executor.run import Run

__all__ = ["remove_container", "remove_network", "remove_service"]


def remove_service(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveService)
    engine = run.host(unit).engine
    ids = action.container_ids or tuple(
        str(c["Id"])
        for c in engine.service_containers(action.project, action.service)
        if (c.get("Labels") or {}).get(OWNER_KEY) == action.owner
    )
    removed = engine.remove_containers(ids, expected_owner=action.owner)
    return f"removed {removed} container(s)"


def remove_container(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveContainer)
    run.emit(ActionStarted(action.address, action.kind, f"removing {action.name}"))
    removed = run.host(unit).engine.remove_containers([action.container_id], expected_owner=action.owner)
    return "removed" if removed else "already gone"


def remove_network(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, RemoveNetwork)
    run.emit(ActionStarted(action.address, action.kind, f"removing the duplicate network {action.network_id[:12]}"))
    return "removed" if run.host(unit).engine.remove_network(action.network_id) else "already gone"
