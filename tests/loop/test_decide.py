"""The loop's decisions and status transitions (pure): act or report, and why."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.plan import Change, Plan, Problem, PutParameter, Unit
from reconciler.loop.conditions import next_status
from reconciler.loop.decide import decide, failed_key, fingerprint
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Result, Revision

A = Revision("a" * 40, "Dev <dev@example.com>", "first", 1.0)
B = Revision("b" * 40, "Dev <dev@example.com>", "second", 2.0)


def plan(*names: str, problems: tuple[str, ...] = ()) -> Plan:
    actions = tuple(
        PutParameter(change=Change(f"parameter:{n}", None, {"value": "v"}), reason="not found", name=n, type="String",
                     value="v", set_name="cfg", create=True, adopt=False, tags={})
        for n in names
    )
    units = (Unit(id="parameters", actions=actions),) if actions else ()
    return Plan(environment="dev", units=units, problems=tuple(Problem(p, "image not found") for p in problems))


APPLIED_A = EnvironmentStatus("dev", last_applied=A)


def test_a_new_revision_is_applied_and_says_which() -> None:
    d = decide(target=B, pinned=False, status=APPLIED_A, plan=plan("/p/X"), mode="apply", self_heal=True)
    assert d.act and d.reason.startswith(f"new revision {B.sha[:12]} ('second' by Dev <dev@example.com>)")
    assert "parameter:/p/X: not found" in d.reason


def test_drift_is_corrected_with_self_heal_else_reported() -> None:
    healed = decide(target=A, pinned=False, status=APPLIED_A, plan=plan("/p/X"), mode="apply", self_heal=True)
    assert healed.act and healed.drift and healed.reason.startswith("drift corrected (selfHeal)")
    kept = decide(target=A, pinned=False, status=APPLIED_A, plan=plan("/p/X"), mode="apply", self_heal=False)
    assert not kept.act and kept.result is Result.SKIPPED and "selfHeal is off" in kept.reason


@pytest.mark.parametrize(
    ("status", "mode", "result", "words"),
    [
        (APPLIED_A, "plan", Result.PLANNED, "plan only"),
        (replace(APPLIED_A, suspended=True), "apply", Result.SKIPPED, "suspended"),
    ],
)
def test_nothing_is_done_in_plan_mode_or_suspended(
    status: EnvironmentStatus, mode: str, result: Result, words: str
) -> None:
    d = decide(target=B, pinned=False, status=status, plan=plan("/p/X"), mode=mode, self_heal=True)  # type: ignore[arg-type]
    assert not d.act and d.result is result and words in d.reason


def test_a_failed_revision_is_not_retried_until_the_commit_or_the_plan_changes() -> None:
    broken = plan("/p/X", problems=("stack:web",))
    status = replace(APPLIED_A, failed_revisions=frozenset({failed_key(B.sha, broken)}), last_error="tag 9.9.9")
    again = decide(target=B, pinned=False, status=status, plan=broken, mode="apply", self_heal=True)
    assert not again.act and "failed before: tag 9.9.9" in again.reason
    world_changed = plan("/p/X", "/p/Y", problems=("stack:web",))
    assert fingerprint(world_changed) != fingerprint(broken)
    assert decide(target=B, pinned=False, status=status, plan=world_changed, mode="apply", self_heal=True).act
    fixed_commit = Revision("c" * 40, "Dev", "fix", 3.0)
    assert decide(target=fixed_commit, pinned=False, status=status, plan=broken, mode="apply", self_heal=True).act


def test_in_sync_is_no_change_even_for_a_new_revision() -> None:
    d = decide(target=B, pinned=True, status=APPLIED_A, plan=plan(), mode="apply", self_heal=True)
    assert not d.act and d.result is Result.NO_CHANGE and "(pinned)" in d.reason


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    p = plan()
    d = decide(target=A, pinned=False, status=EnvironmentStatus("dev"), plan=p, mode="apply", self_heal=True)
    first = next_status(EnvironmentStatus("dev"), A, False, p, d, None, Result.NO_CHANGE, d.reason, None, None, 10.0)
    second = next_status(first, A, False, p, d, None, Result.NO_CHANGE, d.reason, None, None, 20.0)
    ready = [s.condition(ConditionType.READY) for s in (first, second)]
    assert all(r is not None and r.status is ConditionStatus.TRUE for r in ready)
    assert ready[0].last_transition == ready[1].last_transition == 10.0  # type: ignore[union-attr]
    assert second.last_applied == A


def test_a_failure_is_remembered_and_cleared_by_success() -> None:
    broken = plan("/p/X")
    key = failed_key(B.sha, broken)
    d = decide(target=B, pinned=False, status=APPLIED_A, plan=broken, mode="apply", self_heal=True)
    failed = next_status(APPLIED_A, B, False, broken, d, None, Result.FAILED, d.reason, "boom", key, 5.0)
    assert key in failed.failed_revisions and failed.last_applied == A and failed.last_attempted == B
    degraded = failed.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.status is ConditionStatus.TRUE and degraded.message == "boom"
    assert failed.resources["parameter:/p/X"][0].type is ConditionType.OUT_OF_SYNC
    ok = next_status(failed, B, False, broken, d, None, Result.APPLIED, d.reason, None, None, 6.0)
    assert not ok.failed_revisions and ok.last_applied == B and ok.last_error is None
