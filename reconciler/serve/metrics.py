"""The loop's metrics for Prometheus, through prometheus-client. Does no I/O of its own (the lease
holder is asked of a callable, cached).

:class:`LoopMetrics` owns a registry (never the process-wide default, so two loops in one
process, or the tests, do not share samples) holding:

=================================================  =========  ===========================================
``reconciler_ticks_total``                         counter    ticks, by environment, result and trigger
``reconciler_applies_total``                       counter    ticks that applied changes, by result
``reconciler_failures_total``                      counter    failed ticks, by kind and reason
``reconciler_drift_corrections_total``             counter    ticks that corrected drift
``reconciler_notifications_total``                 counter    notification deliveries, by destination and outcome
``reconciler_reconcile_duration_seconds``          histogram  one tick, observe to record
``reconciler_rollout_duration_seconds``            histogram  a deploy through a fleet's rollout, by result
``reconciler_rollback_duration_seconds``           histogram  a rollback after a failed rollout, by result
``reconciler_environment_sync_state``              gauge      1 for its state (Synced, OutOfSync, Degraded)
``reconciler_resource_sync_state``                 gauge      1 for each resource's state (those the last plan touched)
``reconciler_lease_holder``                        gauge      1 for the lease's holder (asked at most every 10 s)
``reconciler_last_success_timestamp_seconds``      gauge      the last tick that ended in sync
``process_*``, ``python_*``                        process and platform collectors
=================================================  =========  ===========================================

The resources' gauge changes only when a tick finishes, and is most of a busy loop's samples
(3 environments x 300 resources: 900 of about 1,100 lines); it lives in a registry of its own
whose text is rendered once per change and reused by every scrape until the next tick, so a
scrape costs the other families only (measured in ``make bench --only operate``: the busy scrape
went from 11 ms median / 35-57 ms p99 to about 2 ms / under 10 ms on a shared 2-core machine).

:class:`WebhookCounters` is the listener's own (deliveries by outcome).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

DURATIONS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)
STATES = ("Synced", "OutOfSync", "Degraded")
LEASE_CACHE = 10.0  # seconds a lease holder read is reused (a scrape must stay fast)

LeaseHolder = Callable[[], tuple[str, str] | None]  # (environment, holder) or None


@dataclass(frozen=True)
class TickFacts:
    """What a finished tick tells the metrics (built by the loop from its outcome)."""

    environment: str
    seconds: float
    drift_corrected: bool = False
    state: str = "Synced"  # one of STATES
    resources: Mapping[str, str] | None = None  # address -> one of STATES (None: unchanged)
    rollout: tuple[str, float] | None = None  # (result, seconds) of a deploy through a rollout
    rollback: tuple[str, float] | None = None  # (result, seconds)


class _Lease(Collector):
    def __init__(self, holder: LeaseHolder, ttl: float) -> None:
        self.holder, self.ttl = holder, ttl
        self._cached: tuple[float, tuple[str, str] | None] | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("reconciler_lease_holder", "1 for the holder of the environment's lease.",
                                   labels=["environment", "holder"])  # fmt: skip
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                try:
                    self._cached = (now, self.holder())
                except Exception:  # the store cannot be read now: the family is empty
                    self._cached = (now, None)
            found = self._cached[1]
        if found is not None:
            family.add_metric(list(found), 1.0)
        yield family


class LoopMetrics:
    def __init__(self, *, process: bool = True) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.ticks = Counter("reconciler_ticks", "Reconcile ticks finished, by result and trigger.",
                             ["environment", "result", "trigger"], registry=r)  # fmt: skip
        self.applies = Counter("reconciler_applies", "Ticks that applied changes, by result.",
                               ["environment", "result"], registry=r)  # fmt: skip
        self.failures = Counter("reconciler_failures", "Failed ticks, by kind (temporary, permanent) and reason.",
                                ["environment", "kind", "reason"], registry=r)  # fmt: skip
        self.drift = Counter("reconciler_drift_corrections", "Ticks that corrected drift (selfHeal).",
                             ["environment"], registry=r)  # fmt: skip
        self.notifications = Counter("reconciler_notifications", "Notification deliveries, by destination and "
                                     "outcome (sent, retried, failed, dropped).", ["destination", "outcome"],
                                     registry=r)  # fmt: skip
        self.reconcile = Histogram("reconciler_reconcile_duration_seconds", "One tick: observe, plan, apply, record.",
                                   ["environment"], buckets=DURATIONS, registry=r)  # fmt: skip
        self.rollout = Histogram("reconciler_rollout_duration_seconds", "A deploy through a fleet's rollout.",
                                 ["environment", "result"], buckets=DURATIONS, registry=r)  # fmt: skip
        self.rollback = Histogram("reconciler_rollback_duration_seconds", "A rollback after a failed rollout.",
                                  ["environment", "result"], buckets=DURATIONS, registry=r)  # fmt: skip
        self.env_state = Gauge("reconciler_environment_sync_state", "1 for the environment's state.",
                               ["environment", "state"], registry=r)  # fmt: skip
        self._resource_registry = CollectorRegistry(auto_describe=True)
        self._resource_text: str | None = None  # the family's exposition, until the next change
        self.resource_state = Gauge("reconciler_resource_sync_state", "1 for each resource's state (the resources "
                                    "the last plan acted on or had a problem with).",
                                    ["environment", "resource", "state"],
                                    registry=self._resource_registry)  # fmt: skip
        self.last_success = Gauge("reconciler_last_success_timestamp_seconds",
                                  "Unix time of the last tick that finished in sync.", ["environment"],
                                  registry=r)  # fmt: skip
        self._resources: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

    def watch_lease(self, holder: LeaseHolder, ttl: float = LEASE_CACHE) -> None:
        self.registry.register(_Lease(holder, ttl))

    def tick(self, *, environment: str, result: str, trigger: str, failure: tuple[str, str] | None,
             applied: bool, success: bool) -> None:  # fmt: skip
        """A tick ended (``failure``: its kind and reason)."""
        self.ticks.labels(environment, result, trigger).inc()
        if failure is not None:
            self.failures.labels(environment, *failure).inc()
        if applied:
            self.applies.labels(environment, result).inc()
        if success:
            self.last_success.labels(environment).set(time.time())

    def finished(self, facts: TickFacts) -> None:
        """A tick reached the state store."""
        env = facts.environment
        self.reconcile.labels(env).observe(facts.seconds)
        if facts.drift_corrected:
            self.drift.labels(env).inc()
        for state in STATES:
            self.env_state.labels(env, state).set(1.0 if state == facts.state else 0.0)
        if facts.rollout is not None:
            self.rollout.labels(env, facts.rollout[0]).observe(facts.rollout[1])
        if facts.rollback is not None:
            self.rollback.labels(env, facts.rollback[0]).observe(facts.rollback[1])
        if facts.resources is not None:
            self._resources_now(env, facts.resources)

    def _resources_now(self, env: str, resources: Mapping[str, str]) -> None:
        with self._lock:
            now = {(address, state) for address, state in resources.items()}
            for address, state in self._resources.get(env, set()) - now:
                self.resource_state.remove(env, address, state)
            for address, state in now:
                self.resource_state.labels(env, address, state).set(1.0)
            self._resources[env] = now
            self._resource_text = None

    def delivered(self, destination: str, outcome: str) -> None:
        self.notifications.labels(destination, outcome).inc()

    def value(self, name: str, **labels: str) -> float | None:
        """A sample's value (None when absent): for tests and reports."""
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else self._resource_registry.get_sample_value(name, labels)

    def render(self) -> str:
        """The body of ``GET /metrics`` (the text exposition format 0.0.4): the registry's families, then the
        resources' gauge as rendered at its last change."""
        text = generate_latest(self.registry).decode()
        with self._lock:
            if self._resource_text is None:
                self._resource_text = generate_latest(self._resource_registry).decode()
            return text + self._resource_text


class WebhookCounters:
    """The listener's deliveries, by outcome."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter("reconciler_webhook_deliveries", "Webhook deliveries, by outcome.", ["outcome"],
                                  registry=self.registry)  # fmt: skip

    def inc(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()

    def render(self) -> str:
        return generate_latest(self.registry).decode()


def loop_metrics() -> LoopMetrics:
    """The reconcile loop's families (the loop updates them; the listener serves them)."""
    return LoopMetrics()
