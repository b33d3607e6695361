"""Pacing and retrying AWS calls: a client-side rate limiter, write and read retries. Does I/O (sleeps).

botocore's retry quota runs dry under *sustained* throttling, so writes are
never left to it: :class:`RateLimiter` paces mutating calls on the client
(PutParameter is about 3 TPS per account+region) and :func:`write_retrying`
retries ThrottlingException/TooManyUpdates (which botocore never retries)
with tenacity's exponential backoff. :func:`read_retrying` retries throttling,
5xx and dropped connections on reads within a time budget. What counts as
throttled or temporary is :mod:`.errors`'s. Clock and sleep are injected so
tests never wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError, ConnectionClosedError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from reconciler.drivers.aws.errors import is_temporary, is_throttle

T = TypeVar("T")

DEFAULT_WRITE_TPS = 3.0
WRITE_RETRY_ATTEMPTS = 8


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
