"""A job's outcome in the records (pure): its exit code and the last lines of its output go to the
history entry's ``jobs`` (shown by ``reconciler history``) and to its resource's condition in status."""

from __future__ import annotations

from reconciler.core.actions import Change, RunJob
from reconciler.core.plan import Plan, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.render.gitops import history_text
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, HistoryEntry, Result, Trigger
from reconciler.state.codec import entry_from_json, entry_to_json
from reconciler.state.records import job_outcomes, with_resources

JOB = RunJob(
    change=Change("job:popcon/migrate", None, {"service": "backend"}), reason="runs once before backend is recreated",
    host="web-1", stack="popcon", project="dev-popcon", job="migrate", service="backend", command=("./migrate.sh",),
    before=("backend",), timeout=600.0, job_hash="0" * 64, image="img", owner="popcon-dev",
)  # fmt: skip
PLAN = Plan("dev", units=(Unit(id="stack:web-1/popcon", host="web-1", stack="popcon", actions=(JOB,)),))
FAILED = "job migrate exited 3; last lines of its output:\n    applying 0042\n    table locked"


def test_a_job_outcome_goes_to_history_and_status() -> None:
    report = ApplyReport((ActionResult(JOB.address, JOB.kind, "failed", FAILED),))
    jobs = job_outcomes(PLAN, report)
    assert jobs == {"job:popcon/migrate": FAILED}
    assert job_outcomes(PLAN, None) == {}
    skipped = ApplyReport((ActionResult(JOB.address, JOB.kind, "skipped", "not done: ..."),))
    assert job_outcomes(PLAN, skipped) == {}, "only a job that ran has an outcome"

    entry = HistoryEntry(environment="dev", revision=None, started_at=1.0, finished_at=2.0, trigger=Trigger.MANUAL,
                         actor="me", result=Result.FAILED, actions={}, reason="apply", jobs=jobs)  # fmt: skip
    assert entry_from_json(entry_to_json(entry)) == entry
    assert "jobs" not in entry_to_json(HistoryEntry(environment="dev", revision=None, started_at=1.0, finished_at=2.0,
                                                    trigger=Trigger.MANUAL, actor="me", result=Result.APPLIED))
    shown = history_text("dev", [entry])
    assert "    job:popcon/migrate: job migrate exited 3; last lines of its output:\n" in shown
    assert "\n          table locked" in shown

    status = with_resources(EnvironmentStatus("dev"), PLAN, report, now=5.0)
    (degraded,) = status.resources["job:popcon/migrate"]
    assert degraded.type is ConditionType.DEGRADED and degraded.status is ConditionStatus.TRUE
    assert degraded.message == FAILED
