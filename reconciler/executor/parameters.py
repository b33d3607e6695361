"""The executor's SSM part: the handlers of PutParameter and DeleteParameter. Does I/O (through
the SSM driver, which paces and retries the writes).

Each handler acts on one action and returns the message of its result, or raises; both are
safe to repeat (a put writes the same value again, a delete of an absent name is done).
"""

from __future__ import annotations

from reconciler.core.actions import Action, DeleteParameter, PutParameter
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import ActionStarted
from reconciler.core.plan import Unit
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor.run import Run

__all__ = ["delete_parameter", "put_parameter"]


def put_parameter(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, PutParameter)
    run.emit(ActionStarted(action.address, action.kind, "creating" if action.create else "updating"))
    tags = dict(action.tags) if action.create or action.adopt else None
    return _ssm(run).put(action.name, action.type, action.value, overwrite=not action.create, tags=tags)


def delete_parameter(run: Run, unit: Unit, action: Action) -> str:
    assert isinstance(action, DeleteParameter)
    run.emit(ActionStarted(action.address, action.kind, "deleting"))
    outcome = _ssm(run).delete(action.name, expected_owner=action.owner)
    return "already absent" if outcome == "absent" else "deleted"


def _ssm(run: Run) -> SsmWriter:
    if run.drivers.ssm is None:
        raise ReconcilerError("this environment has no aws: it cannot write SSM parameters")
    return run.drivers.ssm
