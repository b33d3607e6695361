"""One handler per action type, in one table (:data:`HANDLERS`). Does I/O (through the handlers).

A handler acts on one action and returns the message of its result, or raises; every
handler is safe to repeat. The handlers live with their domain, as the planner's parts
and the observers do: :mod:`.parameters`, :mod:`.images`, :mod:`.services` and
:mod:`.leftovers` and :mod:`.jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler.core.actions import (
    Action,
    CreateService,
    DeleteParameter,
    ExpectNetwork,
    ExpectVolume,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveContainer,
    RemoveNetwork,
    RemoveService,
    RunJob,
    StartService,
)
from reconciler.core.plan import Unit
from reconciler.executor.images import pull_image
from reconciler.executor.jobs import run_job
from reconciler.executor.leftovers import remove_container, remove_network, remove_service
from reconciler.executor.parameters import delete_parameter, put_parameter
from reconciler.executor.run import Run
from reconciler.executor.services import expect_network, expect_volume, one_service

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[Run, Unit, Action], str]

HANDLERS: Mapping[type[Action], Handler] = {
    PutParameter: put_parameter,
    DeleteParameter: delete_parameter,
    PullImage: pull_image,
    ExpectNetwork: expect_network,
    ExpectVolume: expect_volume,
    CreateService: one_service,
    RecreateService: one_service,
    StartService: one_service,
    RemoveService: remove_service,
    RemoveContainer: remove_container,
    RemoveNetwork: remove_network,
    RunJob: run_job,
}
