"""Notifications of the loop, delivered in the background: which notices pass (:mod:`.gate`), how
each destination gets them (:mod:`.delivery`), and the queues that send them with bounded
retries (:mod:`.queue`). Never blocks or fails a deploy: a destination that is down is logged
and counted, and its messages are retried, then dropped.

No notification library: apprise covers every provider but its SNS plugin signs requests
itself from an access key and secret written in its URL (no instance profile, which is how
the loop runs on EC2), it has no HMAC-signed generic webhook (Flux's ``generic-hmac``), and
it shapes each provider's payload its own way; slack-sdk's webhook client is a POST of the
JSON body, which requests (already a dependency) does. The payloads are ours
(:mod:`reconciler.render.notices`, tested against the providers' documented shapes), webhooks
go through requests and SNS and CloudWatch through boto3, both already dependencies.
"""

from __future__ import annotations

from reconciler.notify.gate import Gate
from reconciler.notify.queue import Notifier, RetryPolicy

__all__ = ["Gate", "Notifier", "RetryPolicy"]
