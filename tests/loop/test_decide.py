"""The loop's decisions and status transitions (pure): act or report, and why."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loop.kit import A, B, plan
from reconciler.core.actions import Change, PullImage
from reconciler.core.plan import Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.loop.conditions import next_status
from reconciler.loop.decide import decide, failed_key, fingerprint
from reconciler.loop.outcome import Attempt
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Reason, Result, Revision

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
    assert kept.condition is Reason.DRIFT_NOT_CORRECTED


@pytest.mark.parametrize(
    ("status", "mode", "result", "words", "why"),
    [
        (APPLIED_A, "plan", Result.PLANNED, "plan only", Reason.PLAN_ONLY),
        (replace(APPLIED_A, suspended=True), "apply", Result.SKIPPED, "suspended", Reason.SUSPENDED),
        (replace(APPLIED_A, suspended=True), "plan", Result.PLANNED, "plan only", Reason.PLAN_ONLY),
    ],
)
def test_nothing_is_done_in_plan_mode_or_suspended(
    status: EnvironmentStatus, mode: str, result: Result, words: str, why: Reason
) -> None:
    d = decide(target=B, pinned=False, status=status, plan=plan("/p/X"), mode=mode, self_heal=True)  # type: ignore[arg-type]
    assert not d.act and d.result is result and words in d.reason and d.condition is why
    ready = next_status(status, attempt=Attempt(environment="dev", target=B, pinned=False, decision=d,
                                                plan=plan("/p/X")), now=1.0).condition(ConditionType.READY)  # fmt: skip
    assert ready is not None and ready.reason == why and ready.message == d.reason


def test_a_failed_revision_is_not_retried_until_the_commit_or_the_plan_changes() -> None:
    broken = plan("/p/X", problems=("stack:web",))
    status = replace(APPLIED_A, failed_revisions=frozenset({failed_key(B.sha, broken)}), last_error="tag 9.9.9")
    again = decide(target=B, pinned=False, status=status, plan=broken, mode="apply", self_heal=True)
    assert not again.act and "failed before: tag 9.9.9" in again.reason and again.condition is Reason.REVISION_FAILED
    world_changed = plan("/p/X", "/p/Y", problems=("stack:web",))
    assert fingerprint(world_changed) != fingerprint(broken)
    assert decide(target=B, pinned=False, status=status, plan=world_changed, mode="apply", self_heal=True).act
    fixed_commit = Revision("c" * 40, "Dev", "fix", 3.0)
    assert decide(target=fixed_commit, pinned=False, status=status, plan=broken, mode="apply", self_heal=True).act


def test_the_images_a_failed_attempt_pulled_do_not_make_its_revision_new() -> None:
    """The attempt that failed pulled the new image on the instance it got to: the next plan has no
    pull there, and that alone is no reason to retry the revision (its other actions are the same)."""
    broken = plan("/p/X")
    pull = PullImage(change=Change("image:h1/web/app", None, {"digest": "sha256:ab"}), reason="not in the engine",
                     host="h1", stack="web", reference="r/app@sha256:ab", registry="r")  # fmt: skip
    unit = Unit(id="stack:h1/web", host="h1", stack="web", actions=(pull,))
    first = replace(broken, units=(*broken.units, unit))
    assert fingerprint(first) == fingerprint(broken)
    status = replace(APPLIED_A, failed_revisions=frozenset({failed_key(B.sha, first)}))
    assert not decide(target=B, pinned=False, status=status, plan=broken, mode="apply", self_heal=True).act


def test_in_sync_is_no_change_even_for_a_new_revision() -> None:
    d = decide(target=B, pinned=True, status=APPLIED_A, plan=plan(), mode="apply", self_heal=True)
    assert not d.act and d.result is Result.NO_CHANGE and "(pinned)" in d.reason


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    p = plan()
    d = decide(target=A, pinned=False, status=EnvironmentStatus("dev"), plan=p, mode="apply", self_heal=True)
    attempt = Attempt(environment="dev", target=A, pinned=False, decision=d, plan=p)
    first = next_status(EnvironmentStatus("dev"), attempt=attempt, now=10.0)
    second = next_status(first, attempt=attempt, now=20.0)
    ready = [s.condition(ConditionType.READY) for s in (first, second)]
    assert all(r is not None and r.status is ConditionStatus.TRUE and r.reason == Reason.IN_SYNC for r in ready)
    assert ready[0].last_transition == ready[1].last_transition == 10.0  # type: ignore[union-attr]
    assert second.last_applied == A


def test_a_failure_is_remembered_and_cleared_by_success() -> None:
    broken = plan("/p/X")
    key = failed_key(B.sha, broken)
    d = decide(target=B, pinned=False, status=APPLIED_A, plan=broken, mode="apply", self_heal=True)
    raised = Attempt(environment="dev", target=B, pinned=False, decision=d, plan=broken, error="boom")
    assert raised.result is Result.FAILED and raised.failed_key == key  # the flow raised: nothing was applied
    failed = next_status(APPLIED_A, attempt=raised, now=5.0)
    assert key in failed.failed_revisions and failed.last_applied == A and failed.last_attempted == B
    degraded = failed.condition(ConditionType.DEGRADED)
    assert degraded is not None and degraded.status is ConditionStatus.TRUE and degraded.message == "boom"
    assert degraded.reason == Reason.APPLY_FAILED
    assert failed.resources["parameter:/p/X"][0].type is ConditionType.OUT_OF_SYNC
    done = ApplyReport((ActionResult("parameter:/p/X", "put_parameter", "done"),))
    ok = next_status(failed, attempt=replace(raised, error=None, report=done), now=6.0)
    assert not ok.failed_revisions and ok.last_applied == B and ok.last_error is None


def test_a_failure_that_may_pass_is_retried_not_remembered() -> None:
    p = plan("/p/X")
    d = decide(target=B, pinned=False, status=APPLIED_A, plan=p, mode="apply", self_heal=True)
    unreachable = ApplyReport((ActionResult("parameter:/p/X", "put_parameter", "failed", "throttled", temporary=True),))
    attempt = Attempt(environment="dev", target=B, pinned=False, decision=d, plan=p, report=unreachable)
    assert attempt.result is Result.FAILED and attempt.transient and attempt.failed_key is None
    assert attempt.failure == "parameter:/p/X: throttled"
    assert not next_status(APPLIED_A, attempt=attempt, now=1.0).failed_revisions
