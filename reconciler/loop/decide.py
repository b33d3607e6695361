"""What a tick does with a plan: apply it, or only report, and why. Pure.

Given the revision the loop targets (the branch head, or the pin), the
environment's recorded status and the fresh plan, :func:`decide` says
whether to act and gives the reason that goes to the log, the history and
the status: a new revision is deployed; drift on the applied revision is
corrected when self-heal is on, else reported as OutOfSync; nothing is done
while suspended or in plan mode; a revision that failed is not retried
while neither the commit nor the plan changed (its fingerprint: the
actions and problems by address and kind, image pulls left out: the
failed attempt itself pulled the images it got to, and that alone is no
reason to try again), so a broken commit does not make the loop hammer
the world.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from reconciler.core.actions import PullImage
from reconciler.core.plan import Plan
from reconciler.state import EnvironmentStatus, Reason, Result, Revision
from reconciler.state.records import reasons

Mode = Literal["apply", "plan"]


@dataclass(frozen=True, kw_only=True)
class Decision:
    act: bool
    result: Result  # when not acting: what the tick records
    reason: str  # why it acts, or why not: the message of the log, the history and the status
    condition: Reason  # the status conditions' reason when it does not act (APPLIED when it acts)
    drift: bool = False  # the plan corrects (or would correct) out-of-band changes


def fingerprint(plan: Plan) -> str:
    """What the plan would do, as a short hash (actions and problems by address and kind; image pulls
    left out, since the attempt that failed pulled what it needed and the next plan has no pull)."""
    items = sorted(f"{a.kind} {a.address}" for a in plan.actions if not isinstance(a, PullImage))
    items += sorted(f"problem {p.address}" for p in plan.problems)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def failed_key(sha: str, plan: Plan) -> str:
    """How a failed revision is remembered: the commit and what its plan would do."""
    return f"{sha}@{fingerprint(plan)}"


def describe(revision: Revision) -> str:
    subject = revision.message.splitlines()[0] if revision.message else ""
    return f"{revision.sha[:12]} ({subject!r} by {revision.author})" if subject else revision.sha[:12]


def decide(
    *,
    target: Revision,
    pinned: bool,
    status: EnvironmentStatus,
    plan: Plan,
    mode: Mode,
    self_heal: bool,
) -> Decision:
    """Act on ``plan`` or not, and why (see the module docstring)."""
    applied = status.last_applied.sha if status.last_applied is not None else None
    new = target.sha != applied
    drift = not new and plan.has_changes
    if not plan.has_changes and not plan.problems:
        why = f"in sync with {describe(target)}" + (" (pinned)" if pinned else "")
        return Decision(act=False, result=Result.NO_CHANGE, reason=why, condition=Reason.IN_SYNC)
    what = reasons(plan) if plan.has_changes else "nothing to apply"
    if mode == "plan":
        return _not_acting(Result.PLANNED, f"plan only (--mode plan): {what}", Reason.PLAN_ONLY, drift)
    if status.suspended:
        return _not_acting(Result.SKIPPED, f"suspended (reconciler resume to act): {what}", Reason.SUSPENDED, drift)
    if failed_key(target.sha, plan) in status.failed_revisions:
        error = f": {status.last_error}" if status.last_error else ""
        why = f"revision {target.sha[:12]} failed before{error}; not retried until the commit or the world changes"
        return _not_acting(Result.SKIPPED, why, Reason.REVISION_FAILED, drift)
    if not plan.has_changes:
        why = f"nothing can be applied: {len(plan.problems)} problem(s)"
        return _not_acting(Result.FAILED, why, Reason.PLAN_FAILED, drift=False)
    if new:
        source = "pinned revision" if pinned else "new revision"
        return Decision(act=True, result=Result.APPLIED, reason=f"{source} {describe(target)}: {what}",
                        condition=Reason.APPLIED)  # fmt: skip
    if self_heal:
        return Decision(act=True, result=Result.APPLIED, reason=f"drift corrected (selfHeal): {what}",
                        condition=Reason.APPLIED, drift=True)  # fmt: skip
    why = f"drift not corrected (selfHeal is off): {what}"
    return _not_acting(Result.SKIPPED, why, Reason.DRIFT_NOT_CORRECTED, drift=True)


def _not_acting(result: Result, reason: str, condition: Reason, drift: bool) -> Decision:
    return Decision(act=False, result=result, reason=reason, condition=condition, drift=drift)
