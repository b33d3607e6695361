"""Auto Scaling's SetInstanceHealth: an instance that cannot be reconciled, marked for its group to
replace. Does I/O (boto3).

:class:`InstanceHealthWriter` makes one SetInstanceHealth (HealthStatus ``Unhealthy``,
ShouldRespectGracePeriod false: the health check grace period is for instances that are still
booting, this one has been found broken) per instance; the group then terminates the instance and
launches a replacement (its launch template, its target groups). Marking an instance already
unhealthy changes nothing, so the call is retried on throttling and 5xx as reads are
(:mod:`.retrying`); errors are :class:`~reconciler.core.errors.TemporaryError` /
:class:`~reconciler.core.errors.PermanentError` naming the instance and the endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.drivers.aws.errors import endpoint_of, translate_errors
from reconciler.drivers.aws.fleet import FleetClients
from reconciler.drivers.aws.retrying import read_retrying


class InstanceHealthWriter:
    """SetInstanceHealth on a fleet's group (IAM: ``autoscaling:SetInstanceHealth``)."""

    def __init__(
        self,
        clients: FleetClients,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._c = clients
        self._sleep, self._clock = sleep, clock

    def mark_unhealthy(self, instance_id: str) -> None:
        """Mark ``instance_id`` Unhealthy now (no grace period): its group replaces it."""
        client = self._c.autoscaling
        with translate_errors(f"instance {instance_id}", endpoint=endpoint_of(client)):
            read_retrying(
                lambda: client.set_instance_health(
                    InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=False
                ),
                sleep=self._sleep,
                clock=self._clock,
            )
