"""The state store of an environment, as its settings name it. Does I/O (opens files or clients).

``stateStore.type: sqlite`` (the default) is ``<state dir>/state.db`` on this
machine; ``dynamodb`` is the table in the environment's AWS account and
region, through the environment's AWS endpoint (the table is made beforehand:
its schema is in :mod:`reconciler.drivers.state.dynamodb_table`). Both keep the same contract
(:class:`~reconciler.state.StateStore`): an exclusive lease with fencing,
status and history.
"""

from __future__ import annotations

from reconciler.app.settings import Settings
from reconciler.core.errors import ReconcilerError
from reconciler.state import StateStore


def open_state_store(settings: Settings) -> StateStore:
    """The environment's state store (no call is made until it is used)."""
    spec = settings.state_store
    if spec.type == "dynamodb":
        if settings.region is None:  # the loader refuses dynamodb without aws
            raise ReconcilerError(f"environment {settings.environment} has no aws: a dynamodb state store needs it")
        from reconciler.drivers.aws.clients import aws_session
        from reconciler.drivers.state.dynamodb import DynamoStateStore
        from reconciler.drivers.state.dynamodb_table import dynamodb_client

        session = aws_session(settings.region, settings.aws_endpoint_url)
        client = dynamodb_client(settings.region, settings.aws_endpoint_url, session=session)
        return DynamoStateStore(client, spec.table)
    from reconciler.drivers.state.sqlite import SqliteStateStore

    return SqliteStateStore.in_state_dir(settings.state_dir)


def describe_store(settings: Settings) -> str:
    """Where the store is, for messages."""
    spec = settings.state_store
    if spec.type == "dynamodb":
        return f"DynamoDB table {spec.table} ({settings.region})"
    return str(settings.state_dir / "state.db")
