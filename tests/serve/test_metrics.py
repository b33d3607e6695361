"""The loop's metrics (reconciler.serve.metrics) through prometheus-client, scraped over a real
listener and read back with prometheus-client's own parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from reconciler.serve import Listener
from reconciler.serve.metrics import LoopMetrics, TickFacts, WebhookCounters


def parse(text: str) -> dict[str, list[Sample]]:
    """Families by name, as Prometheus would read them."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def sample(families: dict[str, list[Sample]], name: str, **labels: str) -> float | None:
    for family in families.values():
        for s in family:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_every_family_is_declared_with_its_type() -> None:
    text = LoopMetrics().render()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    for counter in ("reconciler_ticks", "reconciler_applies", "reconciler_failures", "reconciler_drift_corrections",
                    "reconciler_notifications"):  # fmt: skip
        assert types[counter] == "counter", counter
    for histogram in ("reconciler_reconcile_duration_seconds", "reconciler_rollout_duration_seconds",
                      "reconciler_rollback_duration_seconds"):  # fmt: skip
        assert types[histogram] == "histogram", histogram
    for gauge in ("reconciler_environment_sync_state", "reconciler_resource_sync_state",
                  "reconciler_last_success_timestamp_seconds"):  # fmt: skip
        assert types[gauge] == "gauge", gauge
    assert "process_cpu_seconds" in types and "python_info" in types  # the process and platform collectors


def test_ticks_failures_and_durations_are_counted() -> None:
    m = LoopMetrics(process=False)
    m.tick(environment="dev", result="applied", trigger="poll", failure=None, applied=True, success=True)
    m.tick(environment="dev", result="failed", trigger="webhook", failure=("permanent", "ApplyFailed"), applied=True,
           success=False)  # fmt: skip
    m.finished(TickFacts(environment="dev", seconds=1.5, drift_corrected=True, state="Degraded",
                         rollout=("rolled-back", 40.0), rollback=("ok", 12.0)))  # fmt: skip
    got = parse(m.render())
    assert sample(got, "reconciler_ticks_total", environment="dev", result="applied", trigger="poll") == 1
    assert sample(got, "reconciler_failures_total", kind="permanent", reason="ApplyFailed") == 1
    assert sample(got, "reconciler_applies_total", result="failed") == 1
    assert sample(got, "reconciler_drift_corrections_total", environment="dev") == 1
    assert sample(got, "reconciler_reconcile_duration_seconds_count", environment="dev") == 1
    assert sample(got, "reconciler_reconcile_duration_seconds_sum", environment="dev") == 1.5
    assert sample(got, "reconciler_rollout_duration_seconds_bucket", result="rolled-back", le="30.0") == 0
    assert sample(got, "reconciler_rollout_duration_seconds_bucket", result="rolled-back", le="60.0") == 1
    assert sample(got, "reconciler_rollback_duration_seconds_sum", result="ok") == 12.0
    assert sample(got, "reconciler_environment_sync_state", environment="dev", state="Degraded") == 1
    assert sample(got, "reconciler_environment_sync_state", environment="dev", state="Synced") == 0
    assert (sample(got, "reconciler_last_success_timestamp_seconds", environment="dev") or 0) > 1.7e9


def test_resources_that_left_the_plan_leave_the_gauge() -> None:
    m = LoopMetrics(process=False)
    before = {"service:web": "OutOfSync", "parameter:/a": "Degraded"}
    m.finished(TickFacts(environment="dev", seconds=1, resources=before))
    m.finished(TickFacts(environment="dev", seconds=1, resources={"service:web": "Synced"}))
    got = parse(m.render())
    assert sample(got, "reconciler_resource_sync_state", resource="service:web", state="Synced") == 1
    assert sample(got, "reconciler_resource_sync_state", resource="service:web", state="OutOfSync") is None
    assert sample(got, "reconciler_resource_sync_state", resource="parameter:/a") is None


def test_label_values_cannot_forge_lines() -> None:
    m = LoopMetrics(process=False)
    m.delivered('a"b\\c\nreconciler_ticks_total 999', "sent")
    got = parse(m.render())
    assert sample(got, "reconciler_notifications_total", destination='a"b\\c\nreconciler_ticks_total 999') == 1
    assert sample(got, "reconciler_ticks_total") is None


def test_the_lease_holder_is_asked_at_most_once_per_ttl() -> None:
    m = LoopMetrics(process=False)
    asked: list[int] = []

    def holder() -> tuple[str, str]:
        asked.append(1)
        return ("dev", "loop@host pid 7")

    m.watch_lease(holder, ttl=60)
    for _ in range(3):
        got = parse(m.render())
    assert sample(got, "reconciler_lease_holder", environment="dev", holder="loop@host pid 7") == 1
    assert len(asked) == 1


def test_a_lease_that_cannot_be_read_leaves_the_family_empty() -> None:
    m = LoopMetrics(process=False)

    def broken() -> tuple[str, str]:
        raise OSError("store gone")

    m.watch_lease(broken, ttl=0)
    assert sample(parse(m.render()), "reconciler_lease_holder") is None


def test_scraped_over_the_listener_with_the_webhook_counters() -> None:
    m = LoopMetrics()
    m.tick(environment="dev", result="no-change", trigger="poll", failure=None, applied=False, success=True)
    listener = Listener("127.0.0.1:0", secret=None, branch="main", on_push=lambda _p: None,
                        readiness=lambda: (True, "ok"), metrics=m.render, log=lambda _l: None)  # fmt: skip
    with listener, urllib.request.urlopen(listener.url + "/metrics", timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        got = parse(answer.read().decode())
    assert sample(got, "reconciler_ticks_total", result="no-change") == 1
    assert sample(got, "reconciler_webhook_deliveries_total") is None  # declared, no delivery yet
    assert "reconciler_webhook_deliveries" in got
    assert (sample(got, "process_resident_memory_bytes") or 0) > 0


def test_webhook_counters_count_by_outcome() -> None:
    c = WebhookCounters()
    c.inc("accepted")
    c.inc("accepted")
    assert sample(parse(c.render()), "reconciler_webhook_deliveries_total", outcome="accepted") == 2
