"""The state store's DynamoDB table: its client and its creation. Does I/O (boto3).

One table holds every environment: partition key ``pk`` (the environment),
sort key ``sk`` (``environment`` for its item, ``history#<seq>`` for its
history), on-demand capacity (PAY_PER_REQUEST). :func:`ensure_table` creates
it when missing and waits until it is active; ``reconciler sandbox up`` calls
it against moto. Failures are Temporary/PermanentError naming the table.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from reconciler.drivers.aws.clients import client_config
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import write_retrying

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_TABLE = "reconciler-state"


def dynamodb_client(region: str, endpoint_url: str | None = None, *, session: boto3.Session | None = None) -> Any:
    """A DynamoDB client for the state store (``endpoint_url``: moto in the sandbox)."""
    session = session or boto3.Session(region_name=region)
    with translate_errors(f"dynamodb {region}", endpoint=endpoint_url or ""):
        return session.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=client_config())


def ensure_table(client: DynamoDBClient, table: str = DEFAULT_TABLE) -> bool:
    """Create the table unless it exists (also when another caller creates it at the same time);
    waits until it is active. True when this call created it."""

    def create() -> bool:
        try:
            client.describe_table(TableName=table)
            return False
        except ClientError as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
        try:
            client.create_table(
                TableName=table,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
            )
            created = True
        except ClientError as e:
            if error_code(e) != "ResourceInUseException":  # someone else just created it
                raise
            created = False
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        return created

    with translate_errors(f"dynamodb table {table}", endpoint=endpoint_of(client)):
        return write_retrying(create, sleep=time.sleep)
