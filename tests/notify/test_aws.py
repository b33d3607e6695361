"""SNS and CloudWatch destinations against the sandbox's moto (server mode): the message read back
from an SQS queue subscribed to the topic, the deploy's data points read back from CloudWatch."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from notify.test_delivery import notice
from reconciler.core.notices import Destination, DestinationType, NoticeKind
from reconciler.drivers.notify import AwsSender, WebhookSender
from reconciler.notify import Notifier, RetryPolicy
from reconciler.notify.delivery import Delivery
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world


def client(sandbox: SandboxInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=sandbox.moto_url, region_name=sandbox.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def notifier(sandbox: SandboxInfo, lines: list[str]) -> Notifier:
    sender = AwsSender(sandbox.region, sandbox.moto_url)
    delivery = Delivery(webhooks=WebhookSender(), aws=lambda: sender, getenv=lambda _n: None)
    return Notifier(delivery, say=lines.append, policy=RetryPolicy(attempts=3, base=0.1, cap=0.1))


def test_sns_messages_reach_a_subscribed_queue(sandbox: SandboxInfo) -> None:
    sns, sqs = client(sandbox, "sns"), client(sandbox, "sqs")
    name = f"deploys-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    lines: list[str] = []
    n = notifier(sandbox, lines)
    alerts = Destination(name="alerts", type=DestinationType.SNS, topic_arn=topic)
    try:
        n.publish([notice(NoticeKind.DEPLOY_FAILED), notice(NoticeKind.ROLLED_BACK)], (alerts,))
        assert n.drain(20), lines
    finally:
        n.close(1)
        sns.delete_topic(TopicArn=topic)
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    sqs.delete_queue(QueueUrl=queue)
    envelopes = [json.loads(m["Body"]) for m in got]
    assert [e["Subject"] for e in envelopes] == [f"dev: DeployFailed of {'0123456789ab'}",
                                                 f"dev: RolledBack of {'0123456789ab'}"]  # fmt: skip
    first = envelopes[0]
    assert first["TopicArn"] == topic and first["MessageAttributes"]["kind"]["Value"] == "DeployFailed"
    assert "Environment: dev" in first["Message"] and "Error: did not become healthy within 60s" in first["Message"]
    assert "Link: https://github.com/popcon/deploy/commit/" in first["Message"]
    assert lines == []


def test_a_topic_that_does_not_exist_is_logged_never_raised(sandbox: SandboxInfo) -> None:
    lines: list[str] = []
    n = notifier(sandbox, lines)
    missing = f"arn:aws:sns:{sandbox.region}:123456789012:missing-{uuid.uuid4().hex[:6]}"
    gone = Destination(name="gone", type=DestinationType.SNS, topic_arn=missing)
    n.publish([notice()], (gone,))
    n.drain(20)
    n.close(1)
    assert len(lines) == 1 and lines[0].startswith("notification gone: DeployFailed not delivered")


def test_cloudwatch_gets_one_data_point_per_deploy_batched(sandbox: SandboxInfo) -> None:
    namespace = f"Reconciler/test-{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    n = notifier(sandbox, lines)
    metrics = Destination(name="cw", type=DestinationType.CLOUDWATCH, namespace=namespace,
                          events=frozenset({NoticeKind.DEPLOY_SUCCEEDED, NoticeKind.DEPLOY_FAILED}))  # fmt: skip
    batch = [notice(NoticeKind.DEPLOY_SUCCEEDED, sha=f"{i:040x}") for i in range(5)]
    batch += [notice(NoticeKind.DEPLOY_FAILED, sha=f"{i:040x}") for i in range(2)]
    batch += [notice(NoticeKind.DEPLOY_STARTED)]  # filtered out: no data point
    n.publish(batch, (metrics,))
    assert n.drain(20), lines
    n.close(1)
    cw = client(sandbox, "cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace=namespace)["Metrics"]}
    assert names == {"DeploymentSucceeded", "DeploymentFailed", "DeploymentDuration"}
    dims = [{"Name": "Environment", "Value": "dev"}]
    stats = cw.get_metric_statistics(Namespace=namespace, MetricName="DeploymentSucceeded", Dimensions=dims,
                                     StartTime=1_789_990_000, EndTime=1_790_010_000, Period=60,
                                     Statistics=["Sum"])  # fmt: skip
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 5
    assert lines == []
