"""AWS client factory, call counting, client-side rate limiting and error translation. Does I/O.

The composition root builds one :class:`AwsClients` (SSM + ECR) with
:func:`make_clients`; observers and drivers receive the clients as arguments.
Retries: botocore's ``standard`` mode (3 attempts, jittered backoff, also
retries 5xx/timeouts) handles the occasional transient error on reads. Its
retry quota runs dry under *sustained* throttling, so writes are never left to
it: :class:`RateLimiter` paces mutating calls on the client (PutParameter is
about 3 TPS per account+region) and :func:`write_retrying` retries
ThrottlingException/TooManyUpdates (which botocore never retries) with
tenacity's exponential backoff. ``adaptive`` mode was not chosen: botocore
documents it as experimental, it only slows down *after* being throttled and
throttles every operation of the client alike. :func:`translate_errors` turns
botocore failures into :class:`~reconciler.core.errors.TemporaryError` (throttled,
5xx, unreachable, timed out) or :class:`~reconciler.core.errors.PermanentError`
(denied, invalid, not found) naming the resource and the endpoint, with a short
message: no stack trace and never a secret value (masking: :mod:`reconciler.core.secrets`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    SSLError as BotoSSLError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError
from reconciler.core.secrets import redact

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ssm import SSMClient

T = TypeVar("T")

DEFAULT_WRITE_TPS = 3.0
READ_RETRY_ATTEMPTS = 1
WRITE_RETRY_ATTEMPTS = 8

# Error codes that mean "slow down": retried by write_retrying.
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyUpdates",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
    }
)
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
    host = urlparse(url).hostname or ""
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


# --------------------------------------------------------------------------
# pacing and retrying writes
# --------------------------------------------------------------------------


class RateLimiter:
    """Token bucket: at most ``rate`` acquisitions per second on average, ``burst`` at once.

    Clock and sleep are injected so tests never wait.
    """

    def __init__(
        self,
        rate: float = DEFAULT_WRITE_TPS,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping as long as needed. Returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
            self._last = self._clock()
            self._tokens = 0.0
            return wait


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in THROTTLE_CODES or code.startswith("Throttl")


def write_retrying(
    call: Callable[[], T],
    *,
    sleep: Callable[[float], None],
    attempts: int = WRITE_RETRY_ATTEMPTS,
    limiter: RateLimiter | None = None,
) -> T:
    """Run one write, paced by ``limiter``, retrying throttling errors with backoff."""

    def once() -> T:
        if limiter is not None:
            limiter.acquire()
        return call()

    retrying = Retrying(
        sleep=sleep,
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=20.0) + wait_random(0, 0.5),
        retry=retry_if_exception(is_throttle),
        reraise=True,
    )
    result: T = retrying(once)
    return result


READ_RETRY_BUDGET = 30.0  # seconds a read may spend retrying (throttling, 5xx) before it fails


def read_retrying(
    call: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    budget: float = READ_RETRY_BUDGET,
) -> T:
    """Run one read, retrying throttling, 5xx and a dropped connection with exponential backoff
    and jitter, for at most ``budget`` seconds; then the last error is raised. An endpoint that
    refuses or does not answer in time fails at once (botocore has tried twice by then):
    waiting longer would not make it answer. botocore's own retries sit below this: its retry
    quota runs dry under sustained throttling, this does not."""
    deadline = clock() + budget

    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, ClientError):
            return is_temporary(exc)
        return isinstance(exc, ConnectionClosedError)

    wait = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)

    def out_of_time(state: Any) -> bool:
        return clock() + min(8.5, wait(state)) > deadline

    retrying = Retrying(
        sleep=sleep,
        stop=out_of_time,
        wait=wait,
        retry=retry_if_exception(retryable),
        reraise=True,
    )
    result: T = retrying(call)
    return result


# --------------------------------------------------------------------------
# error translation
# --------------------------------------------------------------------------

DENIED_CODES = frozenset(
    {
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
# Server-side failures worth retrying later (besides any HTTP 5xx and the throttle codes).
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
    }
)


def endpoint_of(client: Any) -> str:
    """The URL a boto3 client talks to (``""`` when it cannot say)."""
    meta = getattr(client, "meta", None)
    return str(getattr(meta, "endpoint_url", "") or "")


def http_status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def retry_after(exc: ClientError) -> float | None:
    """The server's Retry-After (seconds) on a throttled/unavailable answer, when it sent one."""
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def is_temporary(exc: ClientError) -> bool:
    """Throttled, a 5xx or a server-side timeout: the same call may succeed later. Pure."""
    code = error_code(exc)
    status = http_status(exc)
    return is_throttle(exc) or code in TRANSIENT_CODES or (status is not None and status >= 500)


def is_denied(exc: ClientError) -> bool:
    code = error_code(exc)
    return code.startswith("AccessDenied") or code in DENIED_CODES


def describe_client_error(exc: ClientError, secrets: Collection[str] = ()) -> str:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    message = redact(str(err.get("Message", "")).strip(), secrets)
    op = getattr(exc, "operation_name", "") or "call"
    if is_denied(exc):
        return f"{op} denied ({code}): {message or 'check the credentials and IAM policy'}"
    if is_throttle(exc):
        return f"{op} throttled by AWS ({code}) after retries; try again later or lower the write rate"
    return f"{op} failed ({code}): {message}" if message else f"{op} failed ({code})"


def client_error_to_world(
    exc: ClientError, resource: str, *, endpoint: str = "", secrets: Collection[str] = ()
) -> TemporaryError | PermanentError:
    """A botocore ClientError as the typed world error (message as :func:`describe_client_error`). Pure."""
    message = describe_client_error(exc, secrets)
    if is_temporary(exc):
        return TemporaryError(resource, message, endpoint=endpoint, retry_after=retry_after(exc))
    return PermanentError(resource, message, endpoint=endpoint)


def botocore_error_to_world(
    exc: BotoCoreError, resource: str, *, endpoint: str = "", secrets: Collection[str] = ()
) -> TemporaryError | PermanentError:
    """Client-side botocore failures: connection/timeouts are temporary, configuration is permanent. Pure."""
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint)
    if isinstance(exc, EndpointConnectionError):
        return TemporaryError(
            resource, f"cannot connect to {url or 'the AWS endpoint'}: is the endpoint reachable?", endpoint=url
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return PermanentError(
            resource,
            "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,"
            " or run with an instance role)",
            endpoint=url,
        )
    if isinstance(exc, NoRegionError):
        return PermanentError(resource, "no AWS region configured (spec.aws.region)", endpoint=url)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        kind = "read" if isinstance(exc, ReadTimeoutError) else "connect"
        return TemporaryError(resource, f"AWS did not answer in time ({kind} timeout)", endpoint=url)
    if isinstance(exc, BotoSSLError):
        return PermanentError(resource, f"TLS failed: {redact(str(exc), secrets)}", endpoint=url)
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return TemporaryError(resource, f"connection to AWS failed: {type(exc).__name__}", endpoint=url)
    return PermanentError(resource, redact(str(exc), secrets), endpoint=url)


@contextmanager
def translate_errors(resource: str, secrets: Collection[str] = (), *, endpoint: str = "") -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into TemporaryError/PermanentError(resource, ...).

    ``endpoint`` (see :func:`endpoint_of`) is named in the message. Usable as a
    decorator too (``@translate_errors("ssm /x")``).
    """
    try:
        yield
    except ReconcilerError:
        raise
    except ClientError as exc:
        raise client_error_to_world(exc, resource, endpoint=endpoint, secrets=secrets) from None
    except BotoCoreError as exc:
        raise botocore_error_to_world(exc, resource, endpoint=endpoint, secrets=secrets) from None
