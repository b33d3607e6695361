"""What lives outside the world: the lease, status and history of each environment. Pure.

The model (:mod:`.lease`, :mod:`.status`, the conditions' :mod:`.reasons`), its JSON form (:mod:`.codec`) and
the :class:`StateStore` interface (:mod:`.store`). The backends that do the
I/O are :mod:`reconciler.drivers.state.sqlite` (embedded, one machine) and
:mod:`reconciler.drivers.state.dynamodb` (several machines).
"""

from reconciler.state.lease import (
    Clock,
    Fenced,
    Lease,
    LeaseGrantor,
    LeaseHeld,
    LeaseLost,
    LeaseOwner,
    Sleep,
    acquire,
    iso,
    takeover_line,
)
from reconciler.state.reasons import Reason
from reconciler.state.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Result,
    Revision,
    Trigger,
    set_condition,
)
from reconciler.state.store import StateStore

__all__ = [
    "Clock", "Condition", "ConditionStatus", "ConditionType", "EnvironmentStatus", "Fenced", "HistoryEntry",
    "Lease", "LeaseGrantor", "LeaseHeld", "LeaseLost", "LeaseOwner", "Reason", "Result", "Revision", "Sleep",
    "StateStore", "Trigger", "acquire", "iso", "set_condition", "takeover_line",
]  # fmt: skip
