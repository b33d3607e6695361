"""The Prometheus text registry (reconciler.serve.metrics)."""

from __future__ import annotations

import threading

import pytest

from reconciler.serve.metrics import Metrics, loop_metrics


def test_render_is_the_text_exposition_format() -> None:
    m = Metrics()
    m.declare("reconciler_ticks_total", "counter", "Ticks\n  finished.")
    m.declare("reconciler_last_success_timestamp_seconds", "gauge", "Last success.")
    m.inc("reconciler_ticks_total", result="ok", trigger="webhook")
    m.inc("reconciler_ticks_total", 2, result="failed", trigger="poll")
    m.set("reconciler_last_success_timestamp_seconds", 1700000000.25)
    assert m.render() == (
        "# HELP reconciler_ticks_total Ticks finished.\n"
        "# TYPE reconciler_ticks_total counter\n"
        'reconciler_ticks_total{result="failed",trigger="poll"} 2\n'
        'reconciler_ticks_total{result="ok",trigger="webhook"} 1\n'
        "# HELP reconciler_last_success_timestamp_seconds Last success.\n"
        "# TYPE reconciler_last_success_timestamp_seconds gauge\n"
        "reconciler_last_success_timestamp_seconds 1700000000.25\n"
    )


def test_label_values_cannot_forge_lines() -> None:
    m = Metrics()
    m.declare("x_total", "counter", "x")
    m.inc("x_total", reason='a"b\\c\nx_total 999')
    sample = m.render().splitlines()[-1]
    assert sample == 'x_total{reason="a\\"b\\\\c\\nx_total 999"} 1'


def test_misuse_is_refused() -> None:
    m = Metrics()
    m.declare("c_total", "counter", "c")
    m.declare("c_total", "counter", "again")  # idempotent
    with pytest.raises(ValueError):
        m.declare("c_total", "gauge", "c")
    with pytest.raises(ValueError):
        m.declare("bad-name", "counter", "c")
    with pytest.raises(ValueError):
        m.inc("c_total", -1)
    with pytest.raises(ValueError):
        m.set("c_total", 3)
    with pytest.raises(ValueError):
        m.inc("c_total", **{"__name__": "x"})
    with pytest.raises(KeyError):
        m.inc("undeclared_total")


def test_concurrent_increments_are_not_lost() -> None:
    m = Metrics()
    m.declare("n_total", "counter", "n")

    def work() -> None:
        for _ in range(2000):
            m.inc("n_total")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.value("n_total") == 8000


def test_loop_families_are_declared_and_empty() -> None:
    m = loop_metrics()
    text = m.render()
    for name in ("ticks_total", "applies_total", "failures_total", "last_success_timestamp_seconds"):
        assert f"# TYPE reconciler_{name} " in text
    assert m.value("reconciler_ticks_total") is None
    assert Metrics().render() == ""
