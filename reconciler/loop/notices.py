"""What a tick tells people: the :class:`~reconciler.core.notices.Notice` s of a finished tick
and of a deploy that starts. Pure.

From a :class:`~reconciler.loop.outcome.Finished` tick (its attempt, the status before and
after): a deploy of a new revision succeeded, failed, or failed and was rolled back; drift
was corrected; a revision known to fail was skipped; the environment became Degraded or
recovered (the Degraded condition's transitions, so a failure that persists says so once).
Every text comes from the attempt and the status, which hold no secret value.
"""

from __future__ import annotations

import re
from dataclasses import replace as _with

from reconciler.core.events import DeployStarted
from reconciler.core.notices import Notice, NoticeKind, Severity
from reconciler.core.plan import Plan
from reconciler.core.rollout_actions import MarkUnhealthy
from reconciler.loop.outcome import FAILING, Finished
from reconciler.state import ConditionStatus, ConditionType, EnvironmentStatus, Reason, Result, Revision

MAX_REASONS = 5
MAX_TEXT = 500
_GITHUB = re.compile(r"(?:https://|ssh://git@|git@)github\.com[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")


def commit_url(repo: str, sha: str) -> str | None:
    """The commit's page when the repository is on GitHub (https or ssh form), else None."""
    found = _GITHUB.fullmatch(repo.strip())
    return f"https://github.com/{found.group(1)}/{found.group(2)}/commit/{sha}" if found and sha else None


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subject(revision: Revision) -> str:
    return revision.message.splitlines()[0] if revision.message else ""


def _base(kind: NoticeKind, severity: Severity, title: str, finished: Finished, repo: str) -> Notice:
    rev = finished.revision
    return Notice(kind=kind, severity=severity, environment=finished.environment, title=title, sha=rev.sha,
                  author=rev.author, subject=_subject(rev), commit_url=commit_url(repo, rev.sha),
                  at=finished.now)  # fmt: skip


def _degraded(status: EnvironmentStatus) -> bool:
    cond = status.condition(ConditionType.DEGRADED)
    return cond is not None and cond.status == ConditionStatus.TRUE


def _split_failure(error: str | None) -> tuple[str | None, str | None]:
    """``address: message`` -> (address, message); an error naming no address -> (None, error)."""
    if not error:
        return None, None
    first = error.split("; ")[0]
    address, sep, _ = first.partition(": ")
    if sep and ":" in address and " " not in address:
        return address, shorten(error)
    return None, shorten(error)


def tick_notices(finished: Finished, repo: str) -> tuple[Notice, ...]:
    """The notices of ``finished`` (see the module docstring), in the order they happened."""
    notices: list[Notice] = []
    env, short = finished.environment, finished.revision.sha[:12]
    attempt = finished.attempt
    if attempt is None:  # the revision's specs do not load
        failed = _base(NoticeKind.DEPLOY_FAILED, Severity.ERROR, f"{env}: {short} cannot be deployed: invalid specs",
                       finished, repo)  # fmt: skip
        notices.append(_with(failed, error=shorten(finished.error or ""), resource="specs"))
    elif attempt.acted:
        notices += _acted(finished, repo)
    elif attempt.decision is not None and attempt.decision.condition is Reason.REVISION_FAILED:
        skipped = _base(NoticeKind.REVISION_SKIPPED, Severity.ERROR,
                        f"{env}: {short} is not retried: it failed before", finished, repo)  # fmt: skip
        notices.append(_with(skipped, reasons=(shorten(attempt.decision.reason),)))
    elif (attempt.error is not None or attempt.result in FAILING) and not attempt.transient:
        failed = _base(NoticeKind.DEPLOY_FAILED, Severity.ERROR, f"{env}: {short} cannot be deployed", finished, repo)
        resource, error = _split_failure(attempt.failure)
        notices.append(_with(failed, resource=resource, error=error))
    if attempt is not None:
        notices += [_replaced(mark, finished, repo) for mark in attempt.marks]
    was, now_degraded = _degraded(finished.before), _degraded(finished.after)
    if now_degraded and not was:
        cond = finished.after.condition(ConditionType.DEGRADED)
        message = cond.message if cond is not None else ""
        notices.append(_with(_base(NoticeKind.DEGRADED, Severity.ERROR, f"{env} is degraded", finished, repo),
                             error=shorten(message)))  # fmt: skip
    elif was and not now_degraded:
        notices.append(_base(NoticeKind.RECOVERED, Severity.INFO, f"{env} recovered at {short}", finished, repo))
    return tuple(notices)


def _acted(finished: Finished, repo: str) -> list[Notice]:
    attempt = finished.attempt
    assert attempt is not None and attempt.decision is not None
    env, short = finished.environment, finished.revision.sha[:12]
    why = plan_reasons(attempt.plan) if attempt.plan is not None else _reasons(attempt.decision.reason)
    result = attempt.result
    if result is Result.APPLIED:
        if attempt.decision.drift:
            n = _base(NoticeKind.DRIFT_CORRECTED, Severity.INFO, f"{env}: drift corrected at {short}", finished, repo)
        else:
            n = _base(NoticeKind.DEPLOY_SUCCEEDED, Severity.INFO, f"{env}: deployed {short}", finished, repo)
        return [_with(n, reasons=why, seconds=finished.seconds)]
    if result not in FAILING and attempt.error is None:
        return []
    if attempt.transient:
        return []  # retried with backoff: the failure may pass (Degraded tells if it persists)
    resource, error = _split_failure(attempt.failure)
    what = "partly failed" if result is Result.PARTIAL else "failed"
    failed = _base(NoticeKind.DEPLOY_FAILED, Severity.ERROR, f"{env}: deploy of {short} {what}", finished, repo)
    notices = [_with(failed, reasons=why, seconds=finished.seconds, resource=resource, error=error)]
    rollback = attempt.rollback
    if rollback is not None:
        to = rollback.to.sha[:12]
        done = f"rolled back to {to}" if rollback.ok else f"rollback to {to} failed"
        rolled = _base(NoticeKind.ROLLED_BACK, Severity.ERROR, f"{env}: {done} after the rollout of {short} failed",
                       finished, repo)  # fmt: skip
        cause_at, cause = _split_failure(rollback.cause)
        notices.append(_with(rolled, reasons=why, seconds=rollback.seconds, resource=cause_at,
                             error=shorten(rollback.error or cause or "")))  # fmt: skip
    return notices


def _replaced(mark: MarkUnhealthy, finished: Finished, repo: str) -> Notice:
    """An instance that could not be reconciled, marked unhealthy: its group replaces it."""
    title = f"{finished.environment}: instance {mark.instance} marked unhealthy ({mark.trouble}), its group replaces it"
    notice = _base(NoticeKind.INSTANCE_REPLACED, Severity.ERROR, title, finished, repo)
    return _with(notice, reasons=(shorten(mark.reason, 200),), resource=f"instance:{mark.instance}",
                 error=shorten(mark.detail))  # fmt: skip


def plan_reasons(plan: Plan, limit: int = MAX_REASONS) -> tuple[str, ...]:
    """What the plan changes and why, services first (what people look for), then the rest, at
    most ``limit`` lines and how many more."""
    actions = sorted(plan.actions, key=lambda a: not a.address.startswith("service:"))
    items = [shorten(f"{a.address}: {a.reason}", 200) for a in actions]
    if len(items) > limit:
        return (*items[: limit - 1], f"and {len(items) - limit + 1} more")
    return tuple(items)


def _reasons(reason: str) -> tuple[str, ...]:
    """The decision's reason as lines: ``new revision <sha> (...): a: why; b: why (+3 more)``."""
    _, sep, rest = reason.partition("): ")
    body = rest if sep else reason.partition(": ")[2] or reason
    items = [shorten(i, 200) for i in body.split("; ") if i]
    return tuple(items[:MAX_REASONS])


def started_notice(event: DeployStarted, repo: str, now: float) -> Notice | None:
    """The DeployStarted notice of a new revision (None for a drift correction: its end tells)."""
    if event.drift:
        return None
    short = event.sha[:12]
    return Notice(kind=NoticeKind.DEPLOY_STARTED, severity=Severity.INFO, environment=event.environment,
                  title=f"{event.environment}: deploying {short}", sha=event.sha, author=event.author,
                  subject=event.subject, commit_url=commit_url(repo, event.sha), reasons=_reasons(event.reason),
                  at=now)  # fmt: skip
