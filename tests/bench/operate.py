"""What operating the loop costs: notifications per tick, and a /metrics scrape (issue 17).

Notifications: the subscribers' work for one deploy (DeployStarted, then the finished tick:
its notices computed from a 300-action plan, the gate, five destinations' filters and queues),
timed in this process around the calls the tick makes, the queues delivering meanwhile to a
local HTTP receiver (a real server) in their own threads; the metrics' share is timed apart.
Target: at most 5 ms a tick. /metrics: a listener serving the loop's registry filled as a
busy loop fills it (3 environments, 300 resources each, every histogram observed, the process
collector), scraped over HTTP; wall time per request. Target: at most 20 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

from reconciler.core.actions import Change, PutParameter
from reconciler.core.events import DeployStarted
from reconciler.core.notices import Destination, DestinationType
from reconciler.core.plan import Plan, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.drivers.notify import WebhookSender
from reconciler.loop.decide import Decision
from reconciler.loop.outcome import Attempt, Finished
from reconciler.loop.subscribers import Subscribers
from reconciler.notify import Notifier
from reconciler.notify.delivery import Delivery
from reconciler.serve import Listener
from reconciler.serve.metrics import LoopMetrics, TickFacts
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Reason, Result, Revision
from tests.bench.report import Report

NOTIFY_TARGET_MS = 5.0
METRICS_TARGET_MS = 20.0


def _plan(n: int) -> Plan:
    actions = tuple(
        PutParameter(change=Change(f"parameter:/p/P{i}", None, {"value": "v"}), reason="not found", name=f"/p/P{i}",
                     type="String", value="v", set_name="cfg", create=True, adopt=False, tags={})
        for i in range(n)
    )  # fmt: skip
    return Plan(environment="dev", units=(Unit(id="parameters", actions=actions),))


def _finished(i: int, plan: Plan, report: ApplyReport) -> Finished:
    rev = Revision(f"{i:040x}", "Dev <dev@example.com>", f"deploy {i}", 1.0)
    decision = Decision(act=True, result=Result.APPLIED, reason=f"new revision {i}", condition=Reason.APPLIED)
    attempt = Attempt(environment="dev", target=rev, pinned=False, decision=decision, plan=plan, report=report)
    before = EnvironmentStatus("dev")
    before = before.with_condition(ConditionType.DEGRADED, ConditionStatus.TRUE, "ApplyFailed", "x", 0)
    after = before.with_condition(ConditionType.DEGRADED, ConditionStatus.FALSE, "Applied", "", 1)
    after = replace(after, resources={a.address: () for a in plan.actions})
    return Finished(environment="dev", revision=rev, before=before, after=after, started=0.0, now=42.0,
                    attempt=attempt)  # fmt: skip


def notifications(report: Report, ticks: int = 300) -> None:
    receiver = subprocess.Popen([sys.executable, "-m", "tests.notify.receiver"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert receiver.stdout is not None and receiver.stdin is not None
    env = {"URL": receiver.stdout.readline().strip() + "/hook", "KEY": "k"}
    types = (DestinationType.SLACK, DestinationType.MSTEAMS, DestinationType.DISCORD, DestinationType.GENERIC,
             DestinationType.GENERIC_HMAC)  # fmt: skip
    dests = tuple(Destination(name=t.value, type=t, url_env="URL", secret_env="KEY" if "hmac" in t.value else None)
                  for t in types)  # fmt: skip
    outcomes: list[str] = []
    notifier = Notifier(Delivery(webhooks=WebhookSender(), aws=None, getenv=env.get), limit=100_000,
                        count=lambda _d, outcome: outcomes.append(outcome))  # fmt: skip
    told = Subscribers(repo="git@github.com:o/r.git", destinations=lambda: dests, say=lambda _l: None,
                       notifier=notifier)  # fmt: skip
    counted = Subscribers(repo="git@github.com:o/r.git", destinations=lambda: (), say=lambda _l: None,
                          metrics=LoopMetrics())  # fmt: skip
    plan = _plan(300)
    applied = ApplyReport(tuple(ActionResult(a.address, a.kind, "done") for a in plan.actions))
    notify_ms, metrics_ms = [], []
    for i in range(ticks):
        finished = _finished(i, plan, applied)
        start = time.perf_counter()
        told.on_event(DeployStarted("dev", finished.revision.sha, "Dev", "deploy", "new revision", drift=False))
        told.on_tick(finished)
        notify_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        counted.on_tick(finished)
        metrics_ms.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)  # the queues deliver between ticks, in their threads, as in a running loop
    notifier.drain(120)
    notifier.close(1)
    receiver.stdin.close()
    receiver.wait(10)
    delivered = outcomes.count("sent")
    report.section("operate", "notifications per tick and a /metrics scrape (issue 17)")
    p99 = statistics.quantiles(notify_ms, n=100)[98]
    report.line(f"{ticks} deploys (DeployStarted, DeploySucceeded; Recovered once) x {len(dests)} destinations: "
                f"{delivered} messages delivered by the queues to a receiver in another process; the metrics' "
                f"share per tick {statistics.median(metrics_ms):.2f} ms (median)")  # fmt: skip
    report.target("notifications per tick (median)", f"{statistics.median(notify_ms):.3f} ms",
                  f"<= {NOTIFY_TARGET_MS:g} ms", statistics.median(notify_ms) <= NOTIFY_TARGET_MS)  # fmt: skip
    report.target("notifications per tick (p99)", f"{p99:.3f} ms", f"<= {NOTIFY_TARGET_MS:g} ms",
                  p99 <= NOTIFY_TARGET_MS)  # fmt: skip


def scrape(report: Report, label: str, environments: int, resources: int, requests: int = 200) -> None:
    metrics = LoopMetrics()
    metrics.watch_lease(lambda: ("dev", "loop@host pid 1"))
    for env in ("dev", "staging", "prod")[:environments]:
        for i in range(50):
            failure = ("permanent", "ApplyFailed") if i % 5 == 0 else None
            metrics.tick(environment=env, result="applied" if i % 5 else "failed", trigger="poll", failure=failure,
                         applied=True, success=True)  # fmt: skip
            metrics.finished(TickFacts(environment=env, seconds=i / 10, drift_corrected=i % 7 == 0,
                                       resources={f"service:{env}/s{j}": "Synced" for j in range(resources)},
                                       rollout=("applied", 60.0 + i), rollback=("ok", 30.0)))  # fmt: skip
        for d in ("slack", "sns", "cloudwatch"):
            metrics.delivered(d, "sent")
    with Listener("127.0.0.1:0", secret=None, branch="main", on_push=lambda _p: None,
                  readiness=lambda: (True, "ok"), metrics=metrics.render, log=lambda _l: None) as listener:  # fmt: skip
        url = listener.url + "/metrics"
        size = 0
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=5) as answer:
                size = len(answer.read())
            times.append((time.perf_counter() - start) * 1000)
    p99 = statistics.quantiles(times, n=100)[98]
    report.line(f"/metrics {label}: {environments} environment(s) x {resources} resources, {size:,} bytes, "
                f"{requests} requests over HTTP")  # fmt: skip
    report.target(f"/metrics {label} (median)", f"{statistics.median(times):.2f} ms", f"<= {METRICS_TARGET_MS:g} ms",
                  statistics.median(times) <= METRICS_TARGET_MS)  # fmt: skip
    report.target(f"/metrics {label} (p99)", f"{p99:.2f} ms", f"<= {METRICS_TARGET_MS:g} ms",
                  p99 <= METRICS_TARGET_MS)  # fmt: skip


def run(report: Report) -> None:
    notifications(report)
    scrape(report, "typical", 1, 50)
    scrape(report, "busy", 3, 300)


if __name__ == "__main__":
    r = Report()
    run(r)
    r.summary()
