"""The loop replaces an instance that cannot be reconciled (fake git source and world, the real SQLite store):
the count of ticks an engine was unreachable kept in the status and handed to the next tick (and dropped once
it is reachable again); a plan's mark applied, with status InstanceReplaced and a notice; a health gate that
fails on one instance while it passed on another marks that instance instead of rolling back; failing on
every instance still rolls back and marks none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from loop import test_tick
from loop.kit import A, B, plan
from loop.test_tick import FakeWorld, Rig, done
from reconciler.core.actions import Change
from reconciler.core.errors import TemporaryError
from reconciler.core.instance_health import InstanceTrouble, Trouble
from reconciler.core.notices import NoticeKind
from reconciler.core.plan import Plan, Problem, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.core.rollout_actions import HealthGate, MarkUnhealthy
from reconciler.loop.decide import decide
from reconciler.loop.notices import tick_notices
from reconciler.loop.outcome import Attempt, Finished
from reconciler.planner.unhealthy import mark_unhealthy, replace_unit_id
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Reason, Result

rig = test_tick.rig

ONE, TWO = "i-0000000000000000a", "i-0000000000000000b"
URL = "ssh://ec2-user@10.90.1.11"


def trouble(ticks: int) -> InstanceTrouble:
    return InstanceTrouble("web", ONE, Trouble.ENGINE_UNREACHABLE, "connection refused", URL, ticks)


def unreachable_plan(ticks: int, *, mark: bool) -> Plan:
    """Nothing else to do; ONE's engine unreachable for ``ticks`` (a problem), marked when ``mark``."""
    units = (Unit(id=replace_unit_id("web"), actions=(mark_unhealthy(trouble(ticks), "popcon-prod-asg"),)),)
    return replace(plan(), units=units if mark else (), troubles=(trouble(ticks),),
                   problems=(Problem(f"stack:{ONE}/popcon", "not planned: host could not be observed"),))  # fmt: skip


def test_the_count_is_kept_in_the_status_and_handed_to_the_next_tick(rig: Callable[..., Rig]) -> None:
    r = rig(FakeWorld(found=[unreachable_plan(1, mark=False)]))
    r.tick()
    assert r.status().unreachable == {ONE: 1}
    resource = dict((c.type, c) for c in r.status().resources[f"instance:{ONE}"])[ConditionType.DEGRADED]
    assert resource.reason == Reason.ENGINE_UNREACHABLE and "engine unreachable for 1 tick" in resource.message
    r.world.found = [unreachable_plan(2, mark=False)]
    r.tick()
    assert r.world.unreachable_before[-1] == {ONE: 1}  # what the planner got: the ticks before this one
    assert r.status().unreachable == {ONE: 2}
    r.world.found = [unreachable_plan(3, mark=True)]
    outcome = r.tick()
    assert r.world.unreachable_before[-1] == {ONE: 2}
    assert r.world.calls.count("apply") == 1
    assert [a.kind for a in r.world.applied[-1].actions] == ["mark_unhealthy"]
    assert outcome.cause == Reason.INSTANCE_REPLACED.value
    ready = r.condition(ConditionType.READY)
    assert ready[:2] == (ConditionStatus.FALSE, Reason.INSTANCE_REPLACED)
    assert f"mark {ONE} unhealthy: engine unreachable for 3 ticks in a row ({URL})" in ready[2]
    entry = r.history()[0]
    assert entry.actions == {"mark_unhealthy": 1} and f"instance:{ONE}/replace" in entry.reason
    r.world.found = [plan()]  # replaced: the group no longer lists it
    r.tick()
    assert r.status().unreachable == {}


@dataclass
class Throttled(FakeWorld):
    """A world whose observation fails (once ``failing``)."""

    failing: bool = False

    def plan(self) -> test_tick.Planned:
        if self.failing:
            raise TemporaryError("ssm", "throttled")
        return super().plan()


def test_a_plan_that_cannot_be_made_keeps_the_count(rig: Callable[..., Rig]) -> None:
    r = rig(Throttled(found=[unreachable_plan(1, mark=False)]))
    r.tick()
    assert isinstance(r.world, Throttled)
    r.world.failing = True
    assert r.tick().temporary
    assert r.status().unreachable == {ONE: 1}


def gate(instance: str, batch: int) -> HealthGate:
    return HealthGate(change=Change(f"instance:{instance}/health", {"s": 1}, {"s": 2}), reason="r", fleet="web",
                      batch=batch, instance=instance, url=f"http://{instance}:3000/health", service="frontend",
                      attempts=3, interval=1.0, timeout=1.0)  # fmt: skip


def two_batches(*names: str) -> Plan:
    base = plan(*names)
    units = (*base.units, Unit(id="rollout:web/1/join", actions=(gate(ONE, 1),)),
             Unit(id="rollout:web/2/join", actions=(gate(TWO, 2),), after=("rollout:web/1/join",)))  # fmt: skip
    return replace(base, units=units)


def failing_on(*instances: str) -> Callable[[Plan], ApplyReport]:
    def outcome(p: Plan) -> ApplyReport:
        results = []
        for a in p.actions:
            bad = isinstance(a, HealthGate) and a.instance in instances
            results.append(ActionResult(a.address, a.kind, "failed" if bad else "done", "HTTP 500" if bad else ""))
        return ApplyReport(tuple(results))

    return outcome


def test_a_gate_failing_on_one_instance_where_another_passed_replaces_it(rig: Callable[..., Rig]) -> None:
    good, bad = plan("/p/X"), two_batches("/p/Y")
    calls: list[Plan] = []

    def outcome(p: Plan) -> ApplyReport:
        calls.append(p)
        return failing_on(TWO)(p) if p is bad else done(p)

    r = rig(FakeWorld(found=[good, plan()], outcome=outcome))
    r.tick()
    r.source.head = B
    r.source.known[B.sha] = B
    r.world.found = [bad]
    outcome_b = r.tick()
    assert r.world.calls.count("apply") == 2  # the rollout, then the mark: no rollback
    (mark,) = calls[-1].actions
    assert isinstance(mark, MarkUnhealthy) and mark.instance == TWO and mark.trouble == "HealthCheckFailed"
    assert outcome_b.cause == Reason.INSTANCE_REPLACED.value
    status = r.status()
    assert status.last_applied == A
    degraded = r.condition(ConditionType.DEGRADED)
    assert degraded[:2] == (ConditionStatus.TRUE, Reason.INSTANCE_REPLACED)
    assert f"mark {TWO} unhealthy: health check failed" in degraded[2] and f"passed on {ONE}" in degraded[2]
    instance = dict((c.type, c) for c in status.resources[f"instance:{TWO}"])[ConditionType.DEGRADED]
    assert instance.reason == Reason.HEALTH_CHECK_FAILED and instance.message.startswith(f"mark {TWO} unhealthy")
    marked, rollout = r.history()[:2]
    assert rollout.revision == B and rollout.result is Result.PARTIAL
    assert marked.revision == B and marked.result is Result.APPLIED and "rather than rolling" in marked.reason
    assert marked.actions == {"mark_unhealthy": 1}


def test_a_gate_failing_on_the_first_instance_rolls_back_and_marks_none(rig: Callable[..., Rig]) -> None:
    good, bad = plan("/p/X"), two_batches("/p/Y")
    r = rig(FakeWorld(found=[good, plan()], outcome=lambda p: failing_on(ONE, TWO)(p) if p is bad else done(p)))
    r.tick()
    r.source.head = B
    r.source.known[B.sha] = B
    r.world.found = [bad, plan("/p/X")]
    r.tick()
    assert not any(isinstance(a, MarkUnhealthy) for p in r.world.applied for a in p.actions)
    assert r.condition(ConditionType.DEGRADED)[:2] == (ConditionStatus.TRUE, Reason.ROLLED_BACK)


def test_a_mark_is_notified_once_per_instance() -> None:
    p = unreachable_plan(3, mark=True)
    report = ApplyReport(tuple(ActionResult(a.address, a.kind, "done") for a in p.actions))
    decision = decide(target=B, pinned=False, status=EnvironmentStatus("dev"), plan=p, mode="apply", self_heal=True)
    attempt = Attempt(environment="dev", target=B, pinned=False, decision=decision, plan=p, report=report)
    status = EnvironmentStatus("dev")
    finished = Finished(environment="dev", revision=B, before=status, after=status, started=0.0, now=1.0,
                        attempt=attempt)  # fmt: skip
    (notice,) = [n for n in tick_notices(finished, "") if n.kind is NoticeKind.INSTANCE_REPLACED]
    assert notice.resource == f"instance:{ONE}" and notice.error == "connection refused"
    assert "marked unhealthy (EngineUnreachable)" in notice.title
    other = replace(notice, resource=f"instance:{TWO}")
    assert notice.key != other.key and notice.key == replace(notice, at=9.0).key
