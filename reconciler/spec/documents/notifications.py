"""The ``notifications`` of an Environment: where the loop tells people what it did. Pure.

Each entry is one destination (Flux's Provider and Alert in one): Slack, Microsoft Teams
and Discord incoming webhooks, a generic JSON webhook (signed with HMAC-SHA256 as Flux's
``generic-hmac``), an Amazon SNS topic, or CloudWatch metrics (one data point per deploy).
A webhook URL and a signing key are secrets: the spec names the environment variable
that holds them (``urlEnv``, ``secretEnv``), never the value.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from reconciler.core.notices import Destination, DestinationType, NoticeKind, Severity
from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.field_types import ENV_NAME_RE, ResourceName
from reconciler.spec.documents.messages import invalid

TOPIC_ARN_RE = re.compile(r"arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
NAMESPACE_RE = re.compile(r"[A-Za-z0-9./#:_ -]{1,255}")
EVENT_NAMES = tuple(k.value for k in NoticeKind)


def _check_topic(value: str) -> str:
    if not TOPIC_ARN_RE.fullmatch(value):
        raise invalid("topic_arn", f"'{value}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)")
    return value


def _check_namespace(value: str) -> str:
    if not NAMESPACE_RE.fullmatch(value) or value.startswith("AWS/") or value.startswith(":"):
        raise invalid("namespace", f"'{value}' is not a CloudWatch namespace of your own (1-255 characters, not AWS/)")
    return value


def _check_secret_env(value: str) -> str:
    if "://" in value or "/" in value or not ENV_NAME_RE.fullmatch(value):
        what = "a URL" if "://" in value else "not a variable name"
        raise invalid(
            "secret_env",
            f"this is {what}: a webhook URL or a key is a secret, kept out of git; set it in an environment "
            "variable of the loop and name the variable here, e.g. SLACK_WEBHOOK_URL",
        )
    return value


SecretEnv = Annotated[
    str, AfterValidator(_check_secret_env), WithJsonSchema({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"})
]
TopicArn = Annotated[str, AfterValidator(_check_topic), WithJsonSchema({"type": "string", "pattern": "^arn:aws"})]
Namespace = Annotated[str, AfterValidator(_check_namespace), WithJsonSchema({"type": "string", "minLength": 1})]
EventName = Literal[
    "DeployStarted", "DeploySucceeded", "DeployFailed", "RolledBack", "DriftCorrected", "Degraded", "Recovered",
    "RevisionSkipped", "InstanceReplaced",
]  # fmt: skip
_NEEDS_URL = ("slack", "msteams", "discord", "generic", "generic-hmac")


class NotificationEntry(SpecModel):
    name: ResourceName = Field(description="Names the destination in logs and metrics, e.g. team-slack.")
    type: Literal["slack", "msteams", "discord", "generic", "generic-hmac", "sns", "cloudwatch"] = Field(
        description="slack, msteams and discord: the provider's incoming webhook (Slack: an attachment coloured "
        "by result). generic: the notice as JSON, POSTed. generic-hmac: the same, signed (header X-Signature: "
        "sha256=<hex HMAC-SHA256 of the body>, as Flux). sns: a message on topicArn (in the environment's aws "
        "region and endpoint). cloudwatch: PutMetricData DeploymentSucceeded, DeploymentFailed and "
        "DeploymentDuration in namespace, dimension Environment."
    )
    url_env: SecretEnv | None = Field(
        None,
        description="The environment variable holding the webhook URL (slack, msteams, discord, generic, "
        "generic-hmac). A webhook URL is a secret: it is read when a message is sent, never from git.",
    )
    secret_env: SecretEnv | None = Field(
        None, description="generic-hmac: the environment variable holding the signing key."
    )
    topic_arn: TopicArn | None = Field(None, description="sns: the topic, e.g. arn:aws:sns:ap-northeast-2:"
                                       "123456789012:deploys.")  # fmt: skip
    namespace: Namespace | None = Field(None, description="cloudwatch: the metrics' namespace. Default: Reconciler.")
    severity: Literal["info", "error"] = Field(
        "info",
        description="info: every event it takes; error: only failures (DeployFailed, RolledBack, "
        "Degraded, RevisionSkipped).",
    )
    events: list[EventName] | None = Field(
        None,
        description="The events it takes. Default: all of DeployStarted, DeploySucceeded, DeployFailed, RolledBack, "
        "DriftCorrected, Degraded, Recovered, RevisionSkipped, InstanceReplaced (cloudwatch: the deploys' ends).",
    )

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> NotificationEntry:
        needs_url = self.type in _NEEDS_URL
        if needs_url and self.url_env is None:
            raise invalid("url_env", f"a {self.type} destination needs urlEnv: the variable holding its webhook URL")
        if not needs_url and self.url_env is not None:
            raise invalid("url_env", f"urlEnv is for webhook destinations, not {self.type}")
        if (self.type == "generic-hmac") != (self.secret_env is not None):
            raise invalid("secret_env", "secretEnv is required by generic-hmac, and only by it")
        if (self.type == "sns") != (self.topic_arn is not None):
            raise invalid("topic_arn", "topicArn is required by sns, and only by it")
        if self.namespace is not None and self.type != "cloudwatch":
            raise invalid("namespace", "namespace is for cloudwatch only")
        if self.events is not None and not self.events:
            raise invalid("events", "name at least one event, or leave events out for all of them")
        return self

    def destination(self) -> Destination:
        kind = DestinationType(self.type)
        default = (
            frozenset({NoticeKind.DEPLOY_SUCCEEDED, NoticeKind.DEPLOY_FAILED, NoticeKind.ROLLED_BACK})
            if kind is DestinationType.CLOUDWATCH
            else frozenset(NoticeKind)
        )
        return Destination(
            name=self.name,
            type=kind,
            url_env=self.url_env,
            secret_env=self.secret_env,
            topic_arn=self.topic_arn,
            namespace=self.namespace or "Reconciler",
            severity=Severity(self.severity),
            events=frozenset(NoticeKind(e) for e in self.events) if self.events else default,
        )
