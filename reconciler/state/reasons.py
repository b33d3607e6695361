"""The reasons a condition gives, as named constants (Flux's ``meta.*Reason``). Pure.

One place for every CamelCase ``reason`` the loop writes into a
:class:`~reconciler.state.status.Condition`, the environment's and each
resource's. They are stored and shown, so their values never change. A
member equals its value, and a condition keeps the plain value
(:func:`~reconciler.state.status.set_condition`), so a status read back from
a store compares equal to the one written. Code decides with these members
and never searches inside a human-readable message.
"""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    # the world matches the target revision
    APPLIED = "Applied"  # a tick (or an action) applied it
    IN_SYNC = "InSync"  # nothing to do
    # something failed
    APPLY_FAILED = "ApplyFailed"
    PLAN_FAILED = "PlanFailed"  # no plan could be made, or it can apply nothing
    INVALID_SPEC = "InvalidSpec"  # the target revision's specs do not load
    ROLLED_BACK = "RolledBack"  # a fleet's rollout failed and the last applied revision was applied again
    ROLLBACK_FAILED = "RollbackFailed"  # ... and applying it again failed too
    # a fleet's instance that cannot be reconciled (reconciler.core.instance_health.Trouble values)
    ENGINE_UNREACHABLE = "EngineUnreachable"  # its Docker engine could not be read (counted in ticks)
    DISK_FULL = "DiskFull"  # its engine said "no space left on device"
    HEALTH_CHECK_FAILED = "HealthCheckFailed"  # its health gate failed while the revision passed on another
    INSTANCE_REPLACED = "InstanceReplaced"  # a tick marked it unhealthy: its Auto Scaling group replaces it
    # a tick that could not run (counted in the metrics' failures, never a condition)
    REPOSITORY_UNREACHABLE = "RepositoryUnreachable"
    LEASE_HELD = "LeaseHeld"
    LEASE_LOST = "LeaseLost"
    STORE_UNREACHABLE = "StateStoreUnreachable"
    UNEXPECTED = "UnexpectedError"
    # changes exist that were not applied
    PLAN_ONLY = "PlanOnly"  # --mode plan
    SUSPENDED = "Suspended"
    REVISION_FAILED = "RevisionFailed"  # a failed revision, not retried until it or the world changes
    DRIFT_NOT_CORRECTED = "DriftNotCorrected"  # selfHeal is off
    NOT_APPLIED = "NotApplied"  # an action planned, skipped or not reached
    NOT_PLANNED = "NotPlanned"  # a plan problem (a resource), or no plan (the environment)
    # the other conditions
    TICK_FINISHED = "TickFinished"  # Progressing is False after every tick
    ACTIVE = "Active"  # not suspended
    PINNED = "Pinned"
    BRANCH_HEAD = "BranchHead"  # not pinned


__all__ = ["Reason"]
