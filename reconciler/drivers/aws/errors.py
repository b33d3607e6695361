"""AWS failures as the reconciler's errors: what is throttled, temporary or denied. Pure (no calls).

:func:`translate_errors` turns botocore failures into
:class:`~reconciler.core.errors.TemporaryError` (throttled, 5xx, unreachable,
timed out) or :class:`~reconciler.core.errors.PermanentError` (denied,
invalid, not found) naming the resource and the endpoint
(:func:`endpoint_of`), with a short message: no stack trace and never a secret
value (masking: :mod:`reconciler.core.secrets`). The classification
(:func:`is_throttle`, :func:`is_temporary`, :func:`is_denied`) is pure and
shared with :mod:`.retrying`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
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

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError
from reconciler.core.secrets import redact

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


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttle(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in THROTTLE_CODES or code.startswith("Throttl")


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
