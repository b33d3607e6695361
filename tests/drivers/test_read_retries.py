"""Reads under throttling and faults: a small proxy in front of the sandbox's moto throttles,
fails or black-holes requests; reads retry with backoff and jitter, bounded, then fail clearly."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.config import Config

from reconciler.core.errors import TemporaryError
from reconciler.core.model import ParameterPath
from reconciler.drivers.aws.clients import make_clients
from reconciler.drivers.ssm import SsmReader
from reconciler.observe.parameters import observe_parameters
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world

THROTTLED = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
def session(region: str) -> boto3.Session:
    return boto3.Session(region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")


# botocore's own retries off, so what is measured is the reconciler's read retries
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=1)


class Proxy:
    """Forwards to moto, except that the first ``fail`` requests get ``status``/``body``
    (``fail=-1``: every request); ``hang`` accepts and never answers."""

    def __init__(self, upstream: str, *, fail: int = 0, status: int = 400, body: bytes = THROTTLED) -> None:
        self.seen = 0
        self.hang = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # SSM's JSON protocol is POST only
                length = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(length)
                outer.seen += 1
                if outer.hang:
                    time.sleep(5)
                    return
                if fail < 0 or outer.seen <= fail:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.post(upstream + self.path, data=data, headers=headers, timeout=10)
                self.send_response(answer.status_code)
                for key in ("Content-Type", "x-amzn-RequestId"):
                    if key in answer.headers:
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def seeded(sandbox: SandboxInfo) -> Iterator[str]:
    prefix = f"/retries-{uuid.uuid4().hex[:8]}"
    ssm = make_clients(sandbox.region, sandbox.moto_url, session=session(sandbox.region)).ssm
    for i in range(3):
        ssm.put_parameter(Name=f"{prefix}/P{i}", Type="String", Value=str(i))
    yield prefix
    ssm.delete_parameters(Names=[f"{prefix}/P{i}" for i in range(3)])


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def reader(sandbox: SandboxInfo, url: str, fake: FakeTime, budget: float = 30.0) -> SsmReader:
    ssm = make_clients(sandbox.region, url, session=session(sandbox.region), config=NO_RETRIES).ssm
    return SsmReader(ssm, sleep=fake.sleep, clock=fake.clock, budget=budget)


def test_throttled_reads_are_retried_with_growing_jittered_waits(sandbox: SandboxInfo, seeded: str) -> None:
    proxy = Proxy(sandbox.moto_url, fail=4)
    fake = FakeTime()
    try:
        found = observe_parameters(reader(sandbox, proxy.url, fake), [ParameterPath(seeded, "s", False, False)])
    finally:
        proxy.close()
    assert sorted(found) == [f"{seeded}/P{i}" for i in range(3)]
    assert len(fake.sleeps) == 4 and proxy.seen == 5
    assert fake.sleeps[-1] > fake.sleeps[0]  # exponential
    assert len({round(s % 0.5, 6) for s in fake.sleeps}) > 1  # jittered


def test_sustained_throttling_fails_within_the_budget_naming_the_endpoint(
    sandbox: SandboxInfo, seeded: str
) -> None:
    proxy = Proxy(sandbox.moto_url, fail=-1)
    fake = FakeTime()
    try:
        with pytest.raises(TemporaryError) as info:
            observe_parameters(reader(sandbox, proxy.url, fake, budget=30), [ParameterPath(seeded, "s", False, False)])
    finally:
        proxy.close()
    assert fake.now <= 30 and proxy.seen >= 4
    assert proxy.url in str(info.value) and "throttled" in str(info.value)


def test_server_errors_are_retried_and_a_black_hole_fails_in_seconds(sandbox: SandboxInfo, seeded: str) -> None:
    proxy = Proxy(sandbox.moto_url, fail=2, status=503, body=b'{"__type":"ServiceUnavailable","message":"busy"}')
    fake = FakeTime()
    try:
        found = observe_parameters(reader(sandbox, proxy.url, fake), [ParameterPath(seeded, "s", False, False)])
        assert len(found) == 3 and len(fake.sleeps) == 2
        proxy.hang = True
        with pytest.raises(TemporaryError) as info:
            paths = [ParameterPath(seeded, "s", False, False)]
            observe_parameters(reader(sandbox, proxy.url, FakeTime(), budget=3), paths)
    finally:
        proxy.close()
    assert proxy.url in str(info.value)


def test_an_unreachable_endpoint_fails_naming_it(sandbox: SandboxInfo) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    fake = FakeTime()
    with pytest.raises(TemporaryError) as info:
        observe_parameters(reader(sandbox, url, fake, budget=5), [ParameterPath("/x", "s", False, False)])
    assert url in str(info.value) and fake.now <= 5
