"""Notifications as data: what happened (a :class:`Notice`) and where it goes (a
:class:`Destination`). Pure.

A notice is what a person needs to hear of one tick: the environment, the revision
(short sha, author, subject, a link to the commit on GitHub), what changed and why
(the plan's reasons, shortened), how long it took and, for a failure, the resource
and the error. Its text is redacted before it is made (it is built from the status
and the history, which hold no secret). A destination is one provider the
Environment's ``notifications`` declares; its URL and signing secret are named by
environment variables and read only when a message is sent, so they are never in
git, a notice, a log line or a payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NoticeKind(str, Enum):
    DEPLOY_STARTED = "DeployStarted"
    DEPLOY_SUCCEEDED = "DeploySucceeded"
    DEPLOY_FAILED = "DeployFailed"
    ROLLED_BACK = "RolledBack"
    DRIFT_CORRECTED = "DriftCorrected"
    DEGRADED = "Degraded"
    RECOVERED = "Recovered"
    REVISION_SKIPPED = "RevisionSkipped"  # a revision known to fail, not retried
    INSTANCE_REPLACED = "InstanceReplaced"  # a fleet's instance that cannot be reconciled, marked unhealthy


class Severity(str, Enum):
    INFO = "info"
    ERROR = "error"


# the kinds a flapping condition could repeat: one message per environment and window
WINDOWED = frozenset({NoticeKind.DEGRADED, NoticeKind.RECOVERED})


@dataclass(frozen=True, kw_only=True)
class Notice:
    kind: NoticeKind
    severity: Severity
    environment: str
    title: str  # one line: "dev: deployed 1a2b3c4d5e6f (bump web to 1.4.2)"
    sha: str = ""  # the revision (empty: none)
    author: str = ""
    subject: str = ""
    commit_url: str | None = None  # on GitHub: https://github.com/<owner>/<repo>/commit/<sha>
    reasons: tuple[str, ...] = ()  # what changed and why, shortened
    seconds: float | None = None  # how long the deploy (or rollback) took
    resource: str | None = None  # for a failure: the address that failed
    error: str | None = None  # for a failure: the message (redacted)
    at: float = 0.0  # unix time

    @property
    def short_sha(self) -> str:
        return self.sha[:12]

    @property
    def key(self) -> tuple[str, str, str]:
        """One message per kind and revision (Argo CD's ``oncePer``); per instance for a replacement."""
        if self.kind is NoticeKind.INSTANCE_REPLACED:
            return (self.environment, self.kind.value, f"{self.sha}/{self.resource or ''}")
        return (self.environment, self.kind.value, self.sha)


class DestinationType(str, Enum):
    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    GENERIC = "generic"  # a JSON POST
    GENERIC_HMAC = "generic-hmac"  # the same, signed: X-Signature: sha256=<hex HMAC-SHA256 of the body>
    SNS = "sns"
    CLOUDWATCH = "cloudwatch"  # one data point per deploy (PutMetricData), not a message

    @property
    def http(self) -> bool:
        return self not in (DestinationType.SNS, DestinationType.CLOUDWATCH)


@dataclass(frozen=True, kw_only=True)
class Destination:
    """One provider, as declared (names of environment variables, never their values)."""

    name: str
    type: DestinationType
    url_env: str | None = None  # the webhook URL's environment variable (http types)
    secret_env: str | None = None  # generic-hmac: the signing key's environment variable
    topic_arn: str | None = None  # sns
    namespace: str = "Reconciler"  # cloudwatch
    severity: Severity = Severity.INFO  # info: everything; error: failures only
    events: frozenset[NoticeKind] = frozenset(NoticeKind)

    def wants(self, notice: Notice) -> bool:
        """The destination's filter: the notice's kind, and its severity."""
        if notice.kind not in self.events:
            return False
        return self.severity is Severity.INFO or notice.severity is Severity.ERROR


__all__ = ["WINDOWED", "Destination", "DestinationType", "Notice", "NoticeKind", "Severity"]
