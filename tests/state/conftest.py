"""Fixtures of the state store contract: both backends, a fake clock, a fresh environment per test.

``backend`` is parametrised over SQLite (a file in the test's tmp dir) and
DynamoDB (the sandbox's moto server in server mode, a real boto3 client, one
table per test session, deleted at the end). ``backend.store(clock)`` opens
another client of the same storage, as a second process or machine would;
each test gets its own environment name, so tests never see each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from reconciler.drivers.state.dynamodb import DynamoStateStore
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.sandbox.lifecycle import SandboxInfo
from state.kit import Backend, FakeClock


def dynamodb_client(sandbox: SandboxInfo) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=sandbox.moto_url,
        region_name=sandbox.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def dynamo_table(sandbox: SandboxInfo) -> Iterator[str]:
    """A table of this test session in the sandbox's moto (created through ensure_table)."""
    name = f"reconciler-state-test-{uuid.uuid4().hex[:8]}"
    client = dynamodb_client(sandbox)
    assert DynamoStateStore(client, name).ensure_table()
    yield name
    client.delete_table(TableName=name)


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "state" / "state.db"
    return Backend("sqlite", lambda clock, sleep: SqliteStateStore(path, clock=clock, sleep=sleep, poll=0.05))


def _dynamodb(request: pytest.FixtureRequest) -> Backend:
    sandbox: SandboxInfo = request.getfixturevalue("sandbox")
    table: str = request.getfixturevalue("dynamo_table")
    return Backend(
        "dynamodb",
        lambda clock, sleep: DynamoStateStore(dynamodb_client(sandbox), table, clock=clock, sleep=sleep, poll=0.05),
    )


@pytest.fixture(params=["sqlite", pytest.param("dynamodb", marks=pytest.mark.world)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _sqlite(tmp_path) if request.param == "sqlite" else _dynamodb(request)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def env() -> str:
    """An environment name no other test uses (the DynamoDB table is shared by the session)."""
    return f"env-{uuid.uuid4().hex[:10]}"
