"""What operating the loop costs: notifications per tick, and a /metrics scrape (issue 17).

Notifications: the subscribers' work for one deploy (DeployStarted, then the finished tick:
its notices computed from a 300-action plan, the gate, five destinations' filters and queues),
timed in this process around the calls the tick makes, the queues delivering meanwhile to a
local HTTP receiver (a real server) in their own threads; the metrics' share is timed apart.
Target: at most 5 ms a tick. /metrics: a listener serving the loop's registry filled as a
busy loop fills it (3 environments, 300 resources each, every histogram observed, the process
collector), scraped over HTTP; wall time per request. Target: at most 20 ms (p99 too; it missed
at 35 ms while the 900 resource samples were formatted on every scrape: they are now rendered once
per tick, reconciler.serve.metrics). The status page: a view with a 1,000-entry history, 3 stacks
of 10 services, a rollout in progress, made into the /api/status document and rendered (jinja2),
then served over HTTP. Target: at most 100 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

from reconciler.core.actions import Change, PutParameter
from reconciler.core.events import ActionStarted, DeployStarted, UnitStarted
from reconciler.core.notices import Destination, DestinationType
from reconciler.core.plan import Plan, Unit
from reconciler.core.progress import advance, idle
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.drivers.notify import WebhookSender
from reconciler.loop.decide import Decision
from reconciler.loop.outcome import Attempt, Finished
from reconciler.loop.subscribers import Subscribers
from reconciler.notify import Notifier
from reconciler.notify.delivery import Delivery
from reconciler.render.page import render_page, status_document
from reconciler.render.page.view import (
    ContainerView,
    LoopView,
    Observation,
    PlanView,
    ServiceView,
    StackView,
    StatusView,
)
from reconciler.serve import Listener
from reconciler.serve.metrics import LoopMetrics, TickFacts
from reconciler.state import (
    Condition,
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Reason,
    Result,
    Revision,
    Trigger,
)
from tests.bench.report import Report

NOTIFY_TARGET_MS = 5.0
METRICS_TARGET_MS = 20.0
PAGE_TARGET_MS = 100.0


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


def _page_view(history: int) -> StatusView:
    rev = Revision("a" * 40, "Ann <ann@example.com>", "frontend 1.4.0 -> 1.5.0", 1_760_000_000.0)
    status = EnvironmentStatus("prod", conditions=(
        Condition(ConditionType.READY, ConditionStatus.TRUE, Reason.APPLIED.value, "applied", 1.0),), last_applied=rev,
        last_attempted=rev, updated_at=2.0)  # fmt: skip
    entries = tuple(HistoryEntry(environment="prod", revision=rev, started_at=1_760_000_000.0 + i * 60,
                                 finished_at=1_760_000_030.0 + i * 60, trigger=Trigger.POLL, actor="loop@host",
                                 result=Result.APPLIED if i % 3 else Result.FAILED, actions={"recreate_service": 2},
                                 reason="frontend image 1.4.0 -> 1.5.0 (tag moved)",
                                 error=None if i % 3 else "instance i-0a: health check failed")
                    for i in range(history))  # fmt: skip
    image = "registry/popcon/svc@sha256:" + "0" * 64
    stacks = tuple(StackView(f"i-0{h}", "popcon", "popcon", tuple(
        ServiceView(f"svc{s}", "in-sync", "config hash matches",
                    (ContainerView(f"popcon-svc{s}-1", "running", "healthy", image),))
        for s in range(10))) for h in range(3))  # fmt: skip
    plan = PlanView("prod", 1.0, "No changes. The world matches the spec.", {"add": 0, "change": 0, "replace": 0,
                    "destroy": 0}, (), 0, (), 300)  # fmt: skip
    progress = idle()
    for event in (DeployStarted("prod", rev.sha, rev.author, rev.message, "why"),
                  UnitStarted("rollout:web/1/leave", None, None, 1),
                  ActionStarted("instance:i-00/leave", "leave_target_groups", "leaving")):  # fmt: skip
        progress = advance(progress, event, 1.0)
    loop = LoopView("https://github.com/acme/envs.git", "main", "environments/prod", "apply", 60.0, 1000, True, True,
                    "a tick is in progress")  # fmt: skip
    return StatusView(generated_at=time.time(), loop=loop, progress=progress, status=status,
                      history=entries[::-1], observation=Observation(plan, stacks, rev.sha),
                      repository_url="https://github.com/acme/envs")  # fmt: skip


def page(report: Report, history: int = 1000, runs: int = 100) -> None:
    view = _page_view(history)
    render_page(status_document(view))  # the template compiles once per process
    times = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        size = len(render_page(status_document(view)))
        times.append((time.perf_counter() - start) * 1000)
    served = []
    with Listener("127.0.0.1:0", secret=None, branch="main", on_push=lambda _p: None, readiness=lambda: (True, "ok"),
                  log=lambda _l: None, page=lambda _h: render_page(status_document(view))) as listener:  # fmt: skip
        for _ in range(runs):
            start = time.perf_counter()
            with urllib.request.urlopen(listener.url + "/", timeout=10) as answer:
                answer.read()
            served.append((time.perf_counter() - start) * 1000)
    p99, http99 = statistics.quantiles(times, n=100)[98], statistics.quantiles(served, n=100)[98]
    report.line(f"status page: {history} history entries, 3 stacks x 10 services, a rollout in progress: "
                f"{size:,} bytes; GET / over HTTP {statistics.median(served):.1f} ms median, {http99:.1f} ms p99")
    report.target(f"status page, {history} entries (median)", f"{statistics.median(times):.1f} ms",
                  f"<= {PAGE_TARGET_MS:g} ms", statistics.median(times) <= PAGE_TARGET_MS)  # fmt: skip
    report.target(f"status page, {history} entries (p99)", f"{p99:.1f} ms", f"<= {PAGE_TARGET_MS:g} ms",
                  p99 <= PAGE_TARGET_MS)  # fmt: skip


def run(report: Report) -> None:
    notifications(report)
    scrape(report, "typical", 1, 50)
    scrape(report, "busy", 3, 300)
    page(report)


if __name__ == "__main__":
    r = Report()
    run(r)
    r.summary()
