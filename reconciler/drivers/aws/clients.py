"""AWS clients: the session, the SSM and ECR clients, and counting their calls. Does I/O (boto3).

The composition root builds one :class:`AwsClients` (SSM + ECR) with
:func:`make_clients`; observers and drivers receive the clients as arguments.
:func:`aws_session` uses the default credential chain, with placeholder
credentials only for an endpoint on this machine (moto). Retries:
botocore's ``standard`` mode (:func:`client_config`: 3 attempts, jittered
backoff, also retries 5xx/timeouts) handles the occasional transient error on
reads; sustained throttling and writes are :mod:`.retrying`'s. ``adaptive``
mode was not chosen: botocore documents it as experimental, it only slows down
*after* being throttled and throttles every operation of the client alike.
:class:`CallCounter` counts API calls per operation through botocore's
``before-call`` event.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from reconciler.drivers.aws.errors import translate_errors

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ssm import SSMClient

READ_RETRY_ATTEMPTS = 1
MUTATING_PREFIXES = ("Put", "Delete", "Add", "Remove", "Create", "Update", "Tag", "Untag")


@dataclass(frozen=True)
class AwsClients:
    ssm: SSMClient
    ecr: ECRClient
    region: str
    endpoint_url: str | None = None


def client_config(max_attempts: int = READ_RETRY_ATTEMPTS) -> Config:
    """botocore config: standard retry mode (``max_attempts`` retries), timeouts that fail in
    seconds. Sustained throttling is handled above botocore (read_retrying, write_retrying)."""
    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=3,
        read_timeout=10,
    )


# moto accepts any credentials; used only for an endpoint on this machine when
# the default chain finds none (the sandbox, `make run` on a fresh machine).
LOOPBACK_CREDENTIALS = ("testing", "testing")


def is_loopback(url: str | None) -> bool:
    """``url`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if not url:
        return False
    try:
        host = urlparse(url).hostname or ""
    except ValueError:  # not a URL (an unclosed IPv6 bracket...): no machine at all, this one least
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def aws_session(region: str, endpoint_url: str | None) -> boto3.Session:
    """The default credential chain; placeholder credentials only for a loopback endpoint without any."""
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None and is_loopback(endpoint_url):
        key, secret = LOOPBACK_CREDENTIALS
        session = boto3.Session(region_name=region, aws_access_key_id=key, aws_secret_access_key=secret)
    return session


def make_clients(
    region: str,
    endpoint_url: str | None = None,
    *,
    session: boto3.Session | None = None,
    config: Config | None = None,
) -> AwsClients:
    """Build the SSM and ECR clients. ``endpoint_url`` points both at moto in the sandbox."""
    session = session or boto3.Session(region_name=region)
    cfg = config or client_config()
    with translate_errors(f"aws {region}", endpoint=endpoint_url or ""):
        ssm = session.client("ssm", region_name=region, endpoint_url=endpoint_url, config=cfg)
        ecr = session.client("ecr", region_name=region, endpoint_url=endpoint_url, config=cfg)
    return AwsClients(ssm=ssm, ecr=ecr, region=region, endpoint_url=endpoint_url)


# --------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------


class CallCounter:
    """Counts API calls per (service, operation) through botocore's ``before-call`` event.

    ``before-call`` fires once per logical call (retries of one call are not
    counted again), which is the unit AWS quotas and costs are stated in.
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def attach(self, *clients: Any) -> CallCounter:
        for client in clients:
            client.meta.events.register("before-call", self._on_call)
        return self

    def detach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.unregister("before-call", self._on_call)

    def _on_call(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        key = (str(model.service_model.endpoint_prefix), str(model.name))
        with self._lock:
            self.calls[key] += 1

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(
            n
            for (svc, op), n in self.calls.items()
            if (service is None or svc == service) and (operation is None or op == operation)
        )

    def total(self) -> int:
        return sum(self.calls.values())

    def mutating(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if op.startswith(MUTATING_PREFIXES))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
