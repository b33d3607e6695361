"""The composition root: the only place clients are built and the layers are wired.

:mod:`.settings` (where the world is, after overrides), :mod:`.clients` (the AWS,
registry and Docker clients), :mod:`.world` (observe, re-check and apply with
them), :mod:`.statestore` (the lease, status and history), :mod:`.compose_check`
(Compose's own offline check), :mod:`.reconcile` (the one plan -> confirm ->
re-check -> apply flow) and :mod:`.environment` (an environment folder opened
with its clients). Not pure: this is where I/O is assembled.
"""

from reconciler.app.environment import (
    EnvironmentContext,
    PlanResult,
    environment_settings,
    open_environment,
    validate,
)
from reconciler.app.settings import Overrides

__all__ = [
    "EnvironmentContext",
    "Overrides",
    "PlanResult",
    "environment_settings",
    "open_environment",
    "validate",
]
