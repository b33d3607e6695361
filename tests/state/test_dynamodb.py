"""The DynamoDB store beyond the contract: the sandbox's table, the item layout, typed errors."""

from __future__ import annotations

import socket
import time
import uuid

import boto3
import pytest

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.drivers.state import holder_gone, this_process
from reconciler.drivers.state.dynamodb import DynamoStateStore
from reconciler.drivers.state.dynamodb import dynamodb_client as make_client
from reconciler.sandbox import seed
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.state import EnvironmentStatus, HistoryEntry, LeaseHeld, LeaseOwner, Result, Trigger, acquire
from state.conftest import dynamodb_client

pytestmark = pytest.mark.world
ME = LeaseOwner("test-host", 1, "pytest")


def client_at(sandbox: SandboxInfo, url: str) -> object:
    """A client as the reconciler builds it (:func:`make_client`), with moto's test credentials."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return make_client(sandbox.region, url, session=session)


def test_sandbox_up_creates_the_state_table(sandbox: SandboxInfo) -> None:
    client = dynamodb_client(sandbox)
    table = client.describe_table(TableName=seed.STATE_TABLE)["Table"]  # type: ignore[attr-defined]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    events: list[str] = []
    assert seed.seed_state_table(client, events.append) == []  # type: ignore[arg-type]  # idempotent
    assert events == [f"moto: DynamoDB table {seed.STATE_TABLE} present"]
    env = f"env-{uuid.uuid4().hex[:10]}"
    store = DynamoStateStore(client, seed.STATE_TABLE)  # type: ignore[arg-type]
    store.release(acquire(store, env, ME, 5.0))  # usable as it is


def test_ensure_table_is_idempotent(sandbox: SandboxInfo, dynamo_table: str) -> None:
    assert DynamoStateStore(dynamodb_client(sandbox), dynamo_table).ensure_table() is False  # type: ignore[arg-type]


def test_the_item_layout(sandbox: SandboxInfo, dynamo_table: str) -> None:
    """One item per environment (lease in native attributes, status as JSON), one per history entry."""
    client = dynamodb_client(sandbox)
    store = DynamoStateStore(client, dynamo_table)  # type: ignore[arg-type]
    env = f"env-{uuid.uuid4().hex[:10]}"
    lease = acquire(store, env, ME, 60.0)
    store.write_status(lease, EnvironmentStatus(env, last_error="boom"))
    entry = HistoryEntry(environment=env, revision=None, started_at=1.0, finished_at=2.0, trigger=Trigger.POLL,
                         actor="loop", result=Result.FAILED)  # fmt: skip
    store.append_history(lease, entry)
    store.set_pin(env, "abc")
    key = {"pk": {"S": env}, "sk": {"S": "environment"}}
    item = client.get_item(TableName=dynamo_table, Key=key, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    assert item["token"] == {"N": str(lease.token)} and item["host"] == {"S": "test-host"}
    assert item["pin"] == {"S": "abc"} and '"last_error":"boom"' in item["status"]["S"]
    assert item["seq"] == {"N": "1"}
    history = client.query(  # type: ignore[attr-defined]
        TableName=dynamo_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": env}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in history) == ["environment", "history#000000000001"]
    assert store.release(lease)
    item = client.get_item(TableName=dynamo_table, Key=key, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    assert "host" not in item and item["token"] == {"N": str(lease.token)}  # release keeps the token


def test_a_lease_item_of_older_code_is_read_and_the_start_time_is_an_optional_attribute(
    sandbox: SandboxInfo, dynamo_table: str
) -> None:
    """Older code wrote no ``started``: its lease is read (never judged gone), and what this code
    writes only adds the attribute, which a release removes with the owner."""
    client = dynamodb_client(sandbox)
    store = DynamoStateStore(client, dynamo_table)  # type: ignore[arg-type]
    env = f"env-{uuid.uuid4().hex[:10]}"
    key = {"pk": {"S": env}, "sk": {"S": "environment"}}
    old_item = {"token": {"N": "3"}, "host": {"S": socket.gethostname()}, "pid": {"N": "1"},
                "command": {"S": "old apply"}, "expires_at": {"N": repr(time.time() + 60)}, "ttl": {"N": "60"},
                "acquired_at": {"N": repr(time.time())}}  # fmt: skip
    client.put_item(TableName=dynamo_table, Item=key | old_item)  # type: ignore[attr-defined]
    held = store.holder(env)
    assert held is not None and held.token == 3 and held.owner.started is None
    with pytest.raises(LeaseHeld):
        acquire(store, env, this_process("reconciler apply"), 60.0, gone=holder_gone)
    assert store.release(held)
    me = this_process("reconciler apply")
    lease = acquire(store, env, me, 60.0)
    item = client.get_item(TableName=dynamo_table, Key=key, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    assert item["started"] == {"S": me.started} and item["token"] == {"N": "4"}
    assert store.release(lease)
    item = client.get_item(TableName=dynamo_table, Key=key, ConsistentRead=True)["Item"]  # type: ignore[attr-defined]
    assert "started" not in item and "host" not in item


def test_a_missing_table_is_a_permanent_error_naming_it(sandbox: SandboxInfo) -> None:
    store = DynamoStateStore(client_at(sandbox, sandbox.moto_url), "no-such-table")  # type: ignore[arg-type]
    with pytest.raises(PermanentError) as info:
        store.read_status("dev")
    assert "dynamodb table no-such-table" in str(info.value) and sandbox.moto_url in str(info.value)
    with pytest.raises(PermanentError):
        acquire(store, "dev", ME, 5.0)


def test_an_unreachable_endpoint_is_a_temporary_error_naming_it(sandbox: SandboxInfo) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed
    store = DynamoStateStore(client_at(sandbox, url), "reconciler-state")  # type: ignore[arg-type]
    with pytest.raises(TemporaryError) as info:
        acquire(store, "dev", ME, 5.0)
    assert url in str(info.value) and "dynamodb table reconciler-state" in str(info.value)
