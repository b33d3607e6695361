"""The executor's image part: the handler of PullImage. Does I/O (through the engine driver).

A pull by digest that the engine already holds is one manifest check ("already present").
"""

from __future__ import annotations

from reconciler.core.actions import Action, PullImage
from reconciler.core.events import ActionStarted
from reconciler.core.plan import Unit
from reconciler.executor.run import Run

__all__ = ["pull_image"]


def pull_image(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, PullImage)
    run.emit(ActionStarted(action.address, action.kind, f"pulling {action.reference}"))
    pulled = run.host(unit).engine.pull(action.reference, run.drivers.registry_auth(action.registry))
    return "pulled" if pulled else "already present"
