"""How one destination gets notices: the provider's payload (:mod:`reconciler.render.notices`),
its URL and signing key from the environment, the HMAC signature, the driver's call. Does I/O
through the senders it is given.

A webhook URL or a signing key is read from its environment variable when a message is sent
and goes nowhere else: not into the payload, not into an error (a variable that is not set is
named, never a value).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.core.errors import PermanentError
from reconciler.core.notices import Destination, DestinationType, Notice
from reconciler.render import notices as payloads

GetEnv = Callable[[str], str | None]

FORMATS: dict[DestinationType, Callable[[Notice], dict[str, Any]]] = {
    DestinationType.SLACK: payloads.slack,
    DestinationType.MSTEAMS: payloads.msteams,
    DestinationType.DISCORD: payloads.discord,
    DestinationType.GENERIC: payloads.generic,
    DestinationType.GENERIC_HMAC: payloads.generic,
}


class Webhooks(Protocol):
    def post(self, resource: str, url: str, body: bytes, headers: dict[str, str]) -> None: ...


class Aws(Protocol):
    def publish(
        self, resource: str, topic_arn: str, subject: str, message: str, attributes: dict[str, str]
    ) -> None: ...
    def put_metrics(self, resource: str, namespace: str, data: Sequence[dict[str, Any]]) -> None: ...


def signature(key: bytes, body: bytes) -> str:
    """Flux's generic-hmac header value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """Sends notices to destinations through the senders (``aws`` None: no AWS destination works)."""

    webhooks: Webhooks
    aws: Callable[[], Aws] | None
    getenv: GetEnv

    def _secret(self, destination: Destination, variable: str | None, what: str) -> str:
        value = self.getenv(variable) if variable else None
        if not value:
            raise PermanentError(f"notification {destination.name}", f"{what}: the variable {variable} is not set")
        return value

    def send(self, destination: Destination, batch: Sequence[Notice]) -> None:
        """Deliver ``batch`` (one notice, or for cloudwatch several) to ``destination``."""
        resource = f"notification {destination.name} ({destination.type.value})"
        if destination.type is DestinationType.CLOUDWATCH:
            data = [d for n in batch for d in payloads.cloudwatch(n)]
            if data:
                self._aws(destination).put_metrics(resource, destination.namespace, data)
            return
        for notice in batch:
            if destination.type is DestinationType.SNS:
                subject, text, attributes = payloads.sns(notice)
                assert destination.topic_arn is not None
                self._aws(destination).publish(resource, destination.topic_arn, subject, text, attributes)
                continue
            url = self._secret(destination, destination.url_env, "no webhook URL")
            body = payloads.encode(FORMATS[destination.type](notice))
            headers: dict[str, str] = {}
            if destination.type is DestinationType.GENERIC_HMAC:
                key = self._secret(destination, destination.secret_env, "no signing key")
                headers["X-Signature"] = signature(key.encode(), body)
            self.webhooks.post(resource, url, body, headers)

    def _aws(self, destination: Destination) -> Aws:
        if self.aws is None:
            raise PermanentError(f"notification {destination.name}", "the environment has no aws section (region)")
        return self.aws()
