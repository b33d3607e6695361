"""The step that marks a fleet's instance unhealthy for its group to replace. Does I/O (through
:class:`~reconciler.executor.rollout.FleetDrivers`).

One SetInstanceHealth Unhealthy; the group terminates the instance and launches a replacement,
which the next ticks converge (it starts empty, out of service until its stacks run). Nothing is
waited for here: the tick that marks it ends, and the loop's next ticks see the replacement come.
An instance that left its group meanwhile is skipped as gone (the rollout steps' rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.core.errors import ReconcilerError
from reconciler.core.rollout_actions import MarkUnhealthy

if TYPE_CHECKING:
    from reconciler.executor.rollout import FleetDrivers  # which lists this step among its own


def mark_unhealthy(drivers: FleetDrivers, action: MarkUnhealthy) -> str:
    if drivers.health is None:
        raise ReconcilerError(f"instance {action.instance}: no Auto Scaling client to mark it unhealthy")
    drivers.health.mark_unhealthy(action.instance)
    group = f"group {action.group}" if action.group else "its group"
    return f"marked unhealthy ({action.trouble}); {group} replaces it"
