"""drivers/aws: call counting, rate limiting, write retries, error translation."""

from __future__ import annotations

import botocore.exceptions
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from drivers.worldkit import aws
from reconciler.core.errors import WorldError
from reconciler.core.model import MASK
from reconciler.core.secrets import redact
from reconciler.drivers.aws.clients import CallCounter
from reconciler.drivers.aws.errors import translate_errors
from reconciler.drivers.aws.retrying import RateLimiter, write_retrying


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client_error(code: str, message: str = "", op: str = "PutParameter") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


def test_rate_limiter_paces_to_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    for _ in range(7):
        limiter.acquire()
    # first is free, the other 6 are spaced 1/3 s apart
    assert clock.now == pytest.approx(2.0)
    clock.now += 10  # idle time refills at most `burst` tokens
    limiter.acquire()
    assert clock.now == pytest.approx(12.0)
    limiter.acquire()
    assert clock.now == pytest.approx(12.0 + 1 / 3)


def test_write_retrying_retries_throttling_and_too_many_updates_only() -> None:
    clock = FakeClock()
    errors = [client_error("TooManyUpdates"), client_error("ThrottlingException")]

    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    assert write_retrying(call, sleep=clock.sleep) == "ok"
    assert len(clock.slept) == 2

    def denied() -> str:
        raise client_error("AccessDeniedException")

    with pytest.raises(ClientError):
        write_retrying(denied, sleep=clock.sleep)
    assert len(clock.slept) == 2  # not retried


def test_write_retrying_gives_up_after_the_attempts() -> None:
    clock = FakeClock()
    calls = []

    def always() -> None:
        calls.append(1)
        raise client_error("TooManyUpdates")

    with pytest.raises(ClientError):
        write_retrying(always, sleep=clock.sleep, attempts=4)
    assert len(calls) == 4


def test_translate_errors_masks_secrets_and_value_echo() -> None:
    secret = "hunter2-very-secret"
    msg = f"1 validation error detected: Value '{secret}' at 'value' failed to satisfy constraint"
    with pytest.raises(WorldError) as info, translate_errors("parameter /x/PW", secrets=(secret,)):
        raise client_error("ValidationException", msg)
    assert secret not in str(info.value)
    assert "ValidationException" in str(info.value)
    assert str(info.value).startswith("parameter /x/PW: ")
    # even without knowing the secret, AWS's echo of the value is masked
    assert MASK in redact("Value 'abc' at 'value' failed")
    assert "abc" not in redact("Value 'abc' at 'value' failed")


@pytest.mark.parametrize(
    ("exc", "needle"),
    [
        (client_error("AccessDeniedException", "User is not authorized"), "denied"),
        (client_error("ThrottlingException", "Rate exceeded"), "throttled"),
        (NoCredentialsError(), "no AWS credentials"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="http://x:1"),
            "cannot connect to http://x:1",
        ),
    ],
)
def test_translate_errors_gives_clear_messages(exc: Exception, needle: str) -> None:
    with pytest.raises(WorldError) as info, translate_errors("ssm /p"):
        raise exc
    assert needle in str(info.value)
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, WorldError)
    assert info.value.__suppress_context__


@pytest.mark.world
def test_unreachable_endpoint_is_a_world_error() -> None:
    clients = aws("http://127.0.0.1:9", attempts=1)
    with pytest.raises(WorldError) as info, translate_errors("ssm /p"):
        clients.ssm.get_parameters_by_path(Path="/p")
    assert "cannot connect to http://127.0.0.1:9" in str(info.value)


@pytest.mark.world
def test_call_counter_counts_logical_calls(sandbox) -> None:  # type: ignore[no-untyped-def]
    clients = aws(sandbox.moto_url)
    counter = CallCounter().attach(clients.ssm, clients.ecr)
    clients.ssm.get_parameters_by_path(Path="/nothing-here", MaxResults=10)
    clients.ecr.describe_repositories()
    with pytest.raises(ClientError):
        clients.ssm.delete_parameter(Name="/nothing-here/x")
    assert counter.count("ssm", "GetParametersByPath") == 1
    assert (
        counter.count("api.ecr", "DescribeRepositories") + counter.count("ecr", "DescribeRepositories") == 1
    )
    assert counter.mutating() == 1
    assert counter.total() == 3
