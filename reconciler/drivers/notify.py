"""Delivering notifications: a JSON POST to a webhook, an SNS message, CloudWatch data points. Does I/O
(requests, boto3).

Failures become :class:`~reconciler.core.errors.TemporaryError` (unreachable, timed out, 429,
5xx: the queue retries them) or :class:`~reconciler.core.errors.PermanentError` (another 4xx,
denied). A webhook URL is a secret (Slack's, Discord's and Teams' carry their token in the
path): no message names more of it than its scheme and host, and requests' own exception
text, which quotes the URL, is never shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.drivers.aws.clients import aws_session, client_config
from reconciler.drivers.aws.errors import translate_errors

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

TIMEOUT = (3.0, 5.0)  # connect, read: a slow provider holds only the queue's worker
CLOUDWATCH_BATCH = 1000  # PutMetricData takes up to 1,000 metrics a call


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: all of a webhook URL that may be shown."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(an invalid URL)"


class WebhookSender:
    """POSTs JSON bodies; one connection pool for every webhook destination."""

    def __init__(self, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.session = requests.Session()
        self.timeout = timeout

    def post(self, resource: str, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST ``body`` to ``url``; raises TemporaryError or PermanentError naming ``resource``."""
        where = origin(url)
        sent = {"Content-Type": "application/json", "User-Agent": "reconciler", **headers}
        try:
            answer = self.session.post(url, data=body, headers=sent, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            raise TemporaryError(resource, "timed out", endpoint=where) from None
        except requests.RequestException as exc:
            raise TemporaryError(resource, f"cannot be reached ({type(exc).__name__})", endpoint=where) from None
        status = answer.status_code
        answer.close()
        if status < 300:
            return
        said = f"answered HTTP {status}"
        if status == 429 or status >= 500:
            after = answer.headers.get("Retry-After", "")
            retry = float(after) if after.replace(".", "", 1).isdigit() else None
            raise TemporaryError(resource, said, endpoint=where, retry_after=retry)
        raise PermanentError(resource, said, endpoint=where)

    def close(self) -> None:
        self.session.close()


class AwsSender:
    """SNS Publish and CloudWatch PutMetricData in one region (the environment's; moto's endpoint in
    the sandbox). Clients are built on first use."""

    def __init__(self, region: str, endpoint_url: str | None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._sns: Any = None
        self._cloudwatch: CloudWatchClient | None = None

    def _client(self, service: str) -> Any:
        session = aws_session(self.region, self.endpoint_url)
        with translate_errors(f"aws {self.region}", endpoint=self.endpoint_url or ""):
            return session.client(service, region_name=self.region, endpoint_url=self.endpoint_url,  # type: ignore[call-overload]
                                  config=client_config())  # fmt: skip

    def publish(self, resource: str, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
        if self._sns is None:
            self._sns = self._client("sns")
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        with translate_errors(resource, endpoint=self.endpoint_url or f"sns {self.region}"):
            self._sns.publish(TopicArn=topic_arn, Subject=subject, Message=message, MessageAttributes=attrs)

    def put_metrics(self, resource: str, namespace: str, data: Sequence[Mapping[str, Any]]) -> None:
        """PutMetricData, batched by 1,000."""
        if self._cloudwatch is None:
            self._cloudwatch = self._client("cloudwatch")
        client = self._cloudwatch
        with translate_errors(resource, endpoint=self.endpoint_url or f"cloudwatch {self.region}"):
            for start in range(0, len(data), CLOUDWATCH_BATCH):
                chunk = [dict(d) for d in data[start : start + CLOUDWATCH_BATCH]]
                client.put_metric_data(Namespace=namespace, MetricData=chunk)  # type: ignore[arg-type]
