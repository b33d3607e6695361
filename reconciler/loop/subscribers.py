"""What the loop tells beyond its log: notifications and metrics, subscribed to its events and to
its finished ticks. Does I/O only through what it is given (the notifier's queues, the metrics).

:class:`Subscribers` turns a :class:`~reconciler.loop.outcome.Finished` tick into the metrics'
:class:`~reconciler.serve.metrics.TickFacts` (durations, drift, the environment's and the
resources' sync state, a rollout's and a rollback's duration) and into notices
(:mod:`.notices`) for the destinations of the revision's settings. A subscriber that fails
is logged and never fails the tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.core.events import DeployStarted, Event
from reconciler.core.notices import Destination, Notice
from reconciler.core.plan import ROLLOUT_PREFIX
from reconciler.loop.notices import started_notice, tick_notices
from reconciler.loop.outcome import Finished
from reconciler.serve.metrics import LoopMetrics, TickFacts
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Result


class Publisher(Protocol):
    """Where notices go (:class:`reconciler.notify.Notifier`)."""

    def publish(self, notices: Iterable[Notice], destinations: Iterable[Destination]) -> int: ...


def _state(degraded: bool, out_of_sync: bool) -> str:
    return "Degraded" if degraded else "OutOfSync" if out_of_sync else "Synced"


def _true(status: EnvironmentStatus, kind: ConditionType) -> bool:
    cond = status.condition(kind)
    return cond is not None and cond.status == ConditionStatus.TRUE


def resource_states(status: EnvironmentStatus) -> dict[str, str]:
    """Each resource the status holds -> Synced, OutOfSync or Degraded."""
    states = {}
    for address, conditions in status.resources.items():
        true = {c.type for c in conditions if c.status == ConditionStatus.TRUE}
        states[address] = _state(ConditionType.DEGRADED in true, ConditionType.OUT_OF_SYNC in true)
    return states


def tick_facts(finished: Finished, deploy_seconds: float | None) -> TickFacts:
    """The metrics of a finished tick (``deploy_seconds``: since its deploy started, if one did)."""
    after, attempt = finished.after, finished.attempt
    state = _state(_true(after, ConditionType.DEGRADED), _true(after, ConditionType.OUT_OF_SYNC))
    rollout = rollback = None
    drift = False
    if attempt is not None and attempt.acted:
        drift = attempt.decision is not None and attempt.decision.drift and attempt.result is Result.APPLIED
        fleet = attempt.plan is not None and any(u.id.startswith(ROLLOUT_PREFIX) for u in attempt.plan.units)
        if fleet:
            result = "rolled-back" if attempt.rollback is not None else attempt.result.value
            seconds = deploy_seconds if deploy_seconds is not None else finished.seconds
            if attempt.rollback is not None:
                seconds = max(0.0, seconds - attempt.rollback.seconds)
            rollout = (result, seconds)
        if attempt.rollback is not None:
            rollback = ("ok" if attempt.rollback.ok else "failed", attempt.rollback.seconds)
    return TickFacts(environment=finished.environment, seconds=finished.seconds, drift_corrected=drift, state=state,
                     resources=resource_states(after), rollout=rollout, rollback=rollback)  # fmt: skip


@dataclass
class Subscribers:
    """The loop's subscribers: ``on_event`` (every event) and ``on_tick`` (every finished tick)."""

    repo: str
    destinations: Callable[[], tuple[Destination, ...]]  # of the last revision whose specs loaded
    say: Callable[[str], None]
    notifier: Publisher | None = None
    metrics: LoopMetrics | None = None
    clock: Callable[[], float] = time.time
    _deploy_started: float | None = field(default=None, init=False)

    def on_event(self, event: Event) -> None:
        if not isinstance(event, DeployStarted):
            return
        self._deploy_started = self.clock()
        try:
            notice = started_notice(event, self.repo, self._deploy_started)
            if notice is not None and self.notifier is not None:
                self.notifier.publish((notice,), self.destinations())
        except Exception as exc:  # never fails a deploy
            self.say(f"notifications: {type(exc).__name__}: {exc}")

    def on_tick(self, finished: Finished) -> None:
        started, self._deploy_started = self._deploy_started, None
        try:
            if self.metrics is not None:
                deploy = finished.now - started if started is not None else None
                self.metrics.finished(tick_facts(finished, deploy))
            if self.notifier is not None:
                self.notifier.publish(tick_notices(finished, self.repo), self.destinations())
        except Exception as exc:  # never fails a tick
            self.say(f"notifications and metrics: {type(exc).__name__}: {exc}")
