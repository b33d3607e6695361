"""A notice as each provider takes it: Slack, Microsoft Teams, Discord, a generic JSON webhook,
an SNS message, CloudWatch data points. Pure.

The shapes are the providers' documented ones: Slack's incoming webhook with a legacy
attachment (``color``, ``title``, ``title_link``, ``fields``, ``ts``: coloured by result),
Teams' Adaptive Card 1.4 in a ``message`` (the Workflows webhook's format), Discord's
webhook ``embeds`` within its length limits, and for the generic webhook the notice
itself as JSON (Flux's generic provider). Nothing here reads a secret: URLs and keys are
the sender's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reconciler.core.notices import Notice, NoticeKind

GOOD, BLUE, DANGER, WARNING = "#2eb886", "#439fe0", "#d00000", "#daa038"
COLOURS = {
    NoticeKind.DEPLOY_STARTED: BLUE,
    NoticeKind.DEPLOY_SUCCEEDED: GOOD,
    NoticeKind.DRIFT_CORRECTED: GOOD,
    NoticeKind.RECOVERED: GOOD,
    NoticeKind.DEPLOY_FAILED: DANGER,
    NoticeKind.ROLLED_BACK: DANGER,
    NoticeKind.DEGRADED: DANGER,
    NoticeKind.REVISION_SKIPPED: WARNING,
    NoticeKind.INSTANCE_REPLACED: WARNING,
}
TEAMS_COLOURS = {GOOD: "Good", BLUE: "Accent", DANGER: "Attention", WARNING: "Warning"}
SNS_SUBJECT_MAX = 100
DISCORD = {"title": 256, "description": 4096, "name": 256, "value": 1024, "footer": 2048}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{seconds:.1f}s"


def facts(notice: Notice) -> list[tuple[str, str]]:
    """The notice's facts as (name, value) pairs, in the order a person reads them."""
    items = [("Environment", notice.environment)]
    if notice.sha:
        items.append(("Revision", notice.short_sha))
    if notice.author:
        items.append(("Author", notice.author))
    if notice.subject:
        items.append(("Commit", notice.subject))
    if notice.seconds is not None:
        items.append(("Duration", duration(notice.seconds)))
    if notice.resource:
        items.append(("Resource", notice.resource))
    return items


def body_lines(notice: Notice) -> list[str]:
    """What changed and why, then the error."""
    lines = list(notice.reasons)
    if notice.error:
        lines.append(f"Error: {notice.error}")
    return lines


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(notice: Notice) -> dict[str, Any]:
    """Slack's incoming webhook: a fallback text and one attachment coloured by result."""
    revision = notice.short_sha
    fields = [{"title": k, "value": _slack_escape(v), "short": k != "Commit"} for k, v in facts(notice)]
    if notice.commit_url and revision:
        fields = [
            {**f, "value": f"<{notice.commit_url}|{revision}>"} if f["title"] == "Revision" else f for f in fields
        ]
    attachment: dict[str, Any] = {
        "color": COLOURS[notice.kind],
        "fallback": _slack_escape(notice.title),
        "title": _slack_escape(notice.title),
        "text": "\n".join(_slack_escape(line) for line in body_lines(notice)),
        "fields": fields,
        "footer": f"reconciler · {notice.kind.value}",
        "ts": int(notice.at),
        "mrkdwn_in": ["text"],
    }
    if notice.commit_url:
        attachment["title_link"] = notice.commit_url
    return {"text": _slack_escape(notice.title), "attachments": [attachment]}


def msteams(notice: Notice) -> dict[str, Any]:
    """Teams' Workflows webhook: a message holding one Adaptive Card (1.4)."""
    title = {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "color": TEAMS_COLOURS[COLOURS[notice.kind]]}  # fmt: skip
    body: list[dict[str, Any]] = [
        title,
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(notice)]},
    ]
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in body_lines(notice)]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if notice.commit_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "View commit", "url": notice.commit_url}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def discord(notice: Notice) -> dict[str, Any]:
    """Discord's webhook: one embed, within Discord's limits."""
    embed: dict[str, Any] = {
        "title": _cut(notice.title, DISCORD["title"]),
        "description": _cut("\n".join(body_lines(notice)), DISCORD["description"]),
        "color": int(COLOURS[notice.kind][1:], 16),
        "fields": [
            {"name": _cut(k, DISCORD["name"]), "value": _cut(v, DISCORD["value"]), "inline": k != "Commit"}
            for k, v in facts(notice)
        ],
        "footer": {"text": f"reconciler · {notice.kind.value}"},
        "timestamp": iso(notice.at),
    }
    if notice.commit_url:
        embed["url"] = notice.commit_url
    return {"username": "reconciler", "embeds": [embed], "allowed_mentions": {"parse": []}}


def generic(notice: Notice) -> dict[str, Any]:
    """The notice itself (the generic and generic-hmac webhooks)."""
    return {
        "kind": notice.kind.value,
        "severity": notice.severity.value,
        "environment": notice.environment,
        "message": notice.title,
        "revision": {
            "sha": notice.sha,
            "short": notice.short_sha,
            "author": notice.author,
            "subject": notice.subject,
            "url": notice.commit_url,
        },
        "reasons": list(notice.reasons),
        "durationSeconds": notice.seconds,
        "resource": notice.resource,
        "error": notice.error,
        "timestamp": iso(notice.at),
        "reportingController": "reconciler",
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sns(notice: Notice) -> tuple[str, str, dict[str, str]]:
    """An SNS message: its subject (ASCII, one line, at most 100 characters), its text, its attributes."""
    subject = "".join(c if " " <= c <= "~" else "?" for c in notice.title)
    lines = [notice.title, ""] + [f"{k}: {v}" for k, v in facts(notice)]
    if notice.commit_url:
        lines.append(f"Link: {notice.commit_url}")
    extra = body_lines(notice)
    text = "\n".join(lines + (["", *extra] if extra else []))
    attributes = {"kind": notice.kind.value, "environment": notice.environment, "severity": notice.severity.value}
    return _cut(subject, SNS_SUBJECT_MAX), text, attributes


CLOUDWATCH_METRICS = {
    NoticeKind.DEPLOY_SUCCEEDED: "DeploymentSucceeded",
    NoticeKind.DEPLOY_FAILED: "DeploymentFailed",
    NoticeKind.ROLLED_BACK: "DeploymentRolledBack",
}


def cloudwatch(notice: Notice) -> list[dict[str, Any]]:
    """PutMetricData's MetricData of one deploy's end: a count of 1, and its duration; [] for the rest."""
    name = CLOUDWATCH_METRICS.get(notice.kind)
    if name is None:
        return []
    when = datetime.fromtimestamp(notice.at, UTC)
    dims = [{"Name": "Environment", "Value": notice.environment}]
    data: list[dict[str, Any]] = [{"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": 1.0,
                                   "Unit": "Count"}]  # fmt: skip
    if notice.seconds is not None and notice.kind is not NoticeKind.ROLLED_BACK:
        data.append({"MetricName": "DeploymentDuration", "Dimensions": dims, "Timestamp": when,
                     "Value": float(notice.seconds), "Unit": "Seconds"})  # fmt: skip
    return data
