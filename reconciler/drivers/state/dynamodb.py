"""The shared state store: one DynamoDB table for several machines. Does I/O (boto3).

:class:`DynamoStateStore` keeps, per environment, one item ``(pk=<env>,
sk="environment")`` holding the lease (``token``, ``host``, ``pid``,
``command``, ``expires_at``, ``ttl``, ``acquired_at``), the status (JSON in
``status``), the admin fields (``suspended``, ``pin``) and the history
sequence ``seq``; and one item per history entry ``(pk=<env>,
sk="history#<seq, 12 digits>")``, so a Query in reverse gives the newest first
(the table and its client: :mod:`.dynamodb_table`); and one item per job that succeeded
``(pk=<env>, sk="job#<stack>#<job>#<hash>")``, written without the lease (a record of what ran).

Every lease change is one conditional UpdateItem (``ConditionExpression``):
acquire sets ``token = if_not_exists(token, 0) + 1`` only when nobody holds the
lease, it expired by the caller's clock, or its token is the one of a holder
judged gone (``replacing``: the optional ``started`` attribute says when the
owner's process started); renew and release only when
``token`` is still the caller's and the lease is not released. Fencing: the
status write is conditioned on ``token = :mine AND expires_at > :now``, and a
history entry is written in one TransactWriteItems with the increment of
``seq`` under the same condition, so a holder that lost its lease writes
nothing. The token only grows (release keeps it). DynamoDB's TTL is not used
(moto never enforces it): expiry is always checked in the conditions.
Admin writes (suspend, pin) are unconditional single UpdateItems of their own
attributes. Throttling is retried (:func:`~reconciler.drivers.aws.retrying.write_retrying`);
other failures become Temporary/PermanentError naming the table and endpoint.
A write that timed out may have happened: a retried acquire then sees itself as
the holder until the TTL ends. No secret values are stored: callers redact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from reconciler.core.errors import TemporaryError
from reconciler.core.jobs import JobKey, JobRecord
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import read_retrying
from reconciler.drivers.aws.retrying import write_retrying as _write_retrying
from reconciler.drivers.state.dynamodb_table import DEFAULT_TABLE, dynamodb_client, ensure_table
from reconciler.state import codec
from reconciler.state.lease import Clock, Fenced, Lease, LeaseHeld, LeaseLost, LeaseOwner, Sleep
from reconciler.state.status import EnvironmentStatus, HistoryEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DEFAULT_TABLE", "DynamoStateStore", "dynamodb_client", "ensure_table"]

T = TypeVar("T")
ENV_SK = "environment"
HISTORY_PREFIX = "history#"
JOB_PREFIX = "job#"  # a job that succeeded: job#<stack>#<job>#<hash>
REFUSED = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
# Every attribute goes through a placeholder: status, ttl and token are reserved words.
NAMES = {f"#{n}": n for n in ("token", "host", "pid", "command", "started", "expires_at", "ttl", "acquired_at")} | {
    f"#{n}": n for n in ("status", "suspended", "pin", "seq")
}
HELD = "#token = :token AND attribute_exists(#host)"  # the caller's lease is current (maybe expired)


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _names(expression: str) -> dict[str, str]:
    return {k: v for k, v in NAMES.items() if k in expression}


def _lease(environment: str, item: dict[str, Any] | None) -> Lease | None:
    """The lease in an environment item (expired or not); None when released or never granted."""
    if not item or "host" not in item:
        return None
    started = item.get("started", {}).get("S")  # optional: leases written by older code have none
    owner = LeaseOwner(item["host"]["S"], int(item["pid"]["N"]), item["command"]["S"], started)
    num = {k: float(item[k]["N"]) for k in ("expires_at", "ttl", "acquired_at")}
    return Lease(environment, owner, int(item["token"]["N"]), num["expires_at"], num["ttl"], num["acquired_at"])


class DynamoStateStore:
    """:class:`~reconciler.state.StateStore` on one DynamoDB table (see the module docstring)."""

    def __init__(
        self, client: DynamoDBClient, table: str = DEFAULT_TABLE, *, clock: Clock = time.time,
        sleep: Sleep = time.sleep, poll: float = 1.0,
    ) -> None:  # fmt: skip
        self.client = client
        self.table = table
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.resource = f"dynamodb table {table}"
        self.endpoint = endpoint_of(client)

    # ---------------------------------------------------------------- plumbing

    def _read(self, call: Callable[[], T]) -> T:
        with translate_errors(self.resource, endpoint=self.endpoint):
            return read_retrying(call, sleep=self.sleep)

    def _write(self, call: Callable[[], T]) -> T:
        with translate_errors(self.resource, endpoint=self.endpoint):
            return _write_retrying(call, sleep=self.sleep)

    def _key(self, environment: str, sk: str = ENV_SK) -> dict[str, Any]:
        return {"pk": {"S": environment}, "sk": {"S": sk}}

    def _item(self, environment: str) -> dict[str, Any] | None:
        key = self._key(environment)
        resp = self._read(lambda: self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True))
        item: dict[str, Any] | None = resp.get("Item")
        return item

    def _update(
        self, environment: str, update: str, condition: str | None = None, values: dict[str, Any] | None = None
    ) -> tuple[bool, Any]:
        """One UpdateItem of the environment's item: (True, the new item) or (False, the item that
        failed the condition, or None)."""
        expression = update + " " + (condition or "")
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": _names(expression), "ReturnValues": "ALL_NEW"}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if condition:
            kwargs |= {"ConditionExpression": condition, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

        def call() -> tuple[bool, Any]:
            try:
                resp = self.client.update_item(
                    TableName=self.table, Key=self._key(environment), UpdateExpression=update, **kwargs
                )
                return True, resp.get("Attributes")
            except ClientError as e:
                if error_code(e) in REFUSED:
                    return False, e.response.get("Item")
                raise

        return self._write(call)

    # ---------------------------------------------------------------- lease

    def try_acquire(self, environment: str, owner: LeaseOwner, ttl: float, *, replacing: int | None = None) -> Lease:
        for _ in range(3):  # a holder that released between our write and our read: try again
            now = self.clock()
            values = {":zero": _n(0), ":one": _n(1), ":host": {"S": owner.host}, ":pid": _n(owner.pid)} | {
                ":command": {"S": owner.command}, ":exp": _n(now + ttl), ":ttl": _n(ttl), ":now": _n(now)
            }  # fmt: skip
            condition = "attribute_not_exists(#host) OR #expires_at <= :now"
            if replacing is not None:  # a holder judged gone: its token, and only it, may be replaced
                condition += " OR #token = :replacing"
                values[":replacing"] = _n(replacing)
            update = (
                "SET #token = if_not_exists(#token, :zero) + :one, #host = :host, #pid = :pid,"
                " #command = :command, #expires_at = :exp, #ttl = :ttl, #acquired_at = :now"
            )
            if owner.started is None:
                update += " REMOVE #started"
            else:
                update += ", #started = :started"
                values[":started"] = {"S": owner.started}
            ok, item = self._update(environment, update, condition, values)
            lease = _lease(environment, item if ok else (item or self._item(environment)))
            if ok and lease is not None:
                return lease
            if lease is not None and not lease.expired(self.clock()) and lease.token != replacing:
                raise LeaseHeld(lease)
        raise TemporaryError(
            self.resource, f"the lease on {environment} kept changing hands; try again", endpoint=self.endpoint
        )

    def renew(self, lease: Lease) -> Lease:
        ok, item = self._update(
            lease.environment,
            "SET #expires_at = :exp",
            HELD,
            {":token": _n(lease.token), ":exp": _n(self.clock() + lease.ttl)},
        )
        current = _lease(lease.environment, item)
        if not ok or current is None:
            raise LeaseLost(lease, current, "renew")
        return current

    def release(self, lease: Lease) -> bool:
        ok, _ = self._update(
            lease.environment, "REMOVE #host, #pid, #command, #started SET #expires_at = :zero", HELD,
            {":token": _n(lease.token), ":zero": _n(0)},
        )  # fmt: skip
        return ok

    def holder(self, environment: str) -> Lease | None:
        current = _lease(environment, self._item(environment))
        return current if current is not None and not current.expired(self.clock()) else None

    # ---------------------------------------------------------------- status and history

    def read_status(self, environment: str) -> EnvironmentStatus:
        item = self._item(environment) or {}
        text = item.get("status", {}).get("S")
        pin = item.get("pin", {}).get("S")
        return codec.status_from_json(text, environment, suspended=bool(item.get("suspended", {}).get("BOOL")), pin=pin)

    def write_status(self, lease: Lease, status: EnvironmentStatus) -> None:
        if status.environment != lease.environment:
            raise ValueError(f"status of {status.environment} written under a lease on {lease.environment}")
        ok, item = self._update(
            lease.environment, "SET #status = :status", HELD + " AND #expires_at > :now",
            {":token": _n(lease.token), ":now": _n(self.clock()), ":status": {"S": codec.status_to_json(status)}},
        )  # fmt: skip
        if not ok:
            raise Fenced(lease, _lease(lease.environment, item), "status write")

    def append_history(self, lease: Lease, entry: HistoryEntry) -> HistoryEntry:
        if entry.environment != lease.environment:
            raise ValueError(f"history of {entry.environment} written under a lease on {lease.environment}")
        stamped = replace(entry, token=lease.token)
        for _ in range(5):  # another append of the same holder took our sequence number: try again
            item = self._item(lease.environment)
            current = _lease(lease.environment, item)
            if current is None or current.token != lease.token or current.expired(self.clock()):
                raise Fenced(lease, current, "history write")
            seq = int((item or {}).get("seq", {}).get("N", 0))
            if self._transact_append(lease, stamped, seq):
                return stamped
        raise Fenced(lease, _lease(lease.environment, self._item(lease.environment)), "history write")

    def _transact_append(self, lease: Lease, entry: HistoryEntry, seq: int) -> bool:
        same_seq = "attribute_not_exists(#seq)" if seq == 0 else "#seq = :seq"
        condition = f"{HELD} AND #expires_at > :now AND {same_seq}"
        values = {":token": _n(lease.token), ":now": _n(self.clock()), ":next": _n(seq + 1)}
        if seq:
            values[":seq"] = _n(seq)
        history_item = {
            **self._key(lease.environment, f"{HISTORY_PREFIX}{seq + 1:012d}"),
            "token": _n(lease.token),
            "started_at": _n(entry.started_at),
            "entry": {"S": codec.entry_to_json(entry)},
        }
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(lease.environment),
            "UpdateExpression": "SET #seq = :next",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": _names(condition),
            "ExpressionAttributeValues": values,
        }
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": history_item,
            "ConditionExpression": "attribute_not_exists(sk)",
        }

        items: list[Any] = [{"Update": update}, {"Put": put}]

        def call() -> bool:
            try:
                self.client.transact_write_items(TransactItems=items)
                return True
            except ClientError as e:
                if error_code(e) in REFUSED | {"TransactionConflictException"}:
                    return False
                raise

        return self._write(call)

    def history(self, environment: str, limit: int = 20) -> list[HistoryEntry]:
        def call() -> Any:
            return self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": environment}, ":prefix": {"S": HISTORY_PREFIX}},
                ScanIndexForward=False,
                Limit=max(1, limit),
                ConsistentRead=True,
            )

        items = self._read(call).get("Items", []) if limit > 0 else []
        return [codec.entry_from_json(i["entry"]["S"]) for i in items]

    # ---------------------------------------------------------------- admin writes (no lease)

    def set_suspended(self, environment: str, suspended: bool) -> None:
        self._update(environment, "SET #suspended = :value", None, {":value": {"BOOL": suspended}})

    def set_pin(self, environment: str, sha: str | None) -> None:
        if sha is None:
            self._update(environment, "REMOVE #pin")
        else:
            self._update(environment, "SET #pin = :value", None, {":value": {"S": sha}})

    # ---------------------------------------------------------------- jobs (no lease: a record of what ran)

    def jobs_done(self, environment: str) -> frozenset[JobKey]:
        return frozenset(r.key for r in self.job_records(environment))

    def record_job(self, environment: str, record: JobRecord) -> None:
        item = {
            **self._key(environment, f"{JOB_PREFIX}{record.stack}#{record.job}#{record.hash}"),
            "record": {"S": json.dumps(asdict(record), sort_keys=True)},
        }
        self._write(lambda: self.client.put_item(TableName=self.table, Item=item))

    def job_records(self, environment: str) -> list[JobRecord]:
        """Every job that succeeded in ``environment`` (every page), newest first."""
        records: list[JobRecord] = []
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}

            def call(kwargs: dict[str, Any] = kwargs) -> Any:
                return self.client.query(
                    TableName=self.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                    ExpressionAttributeValues={":pk": {"S": environment}, ":prefix": {"S": JOB_PREFIX}},
                    ConsistentRead=True, **kwargs,
                )  # fmt: skip

            page = self._read(call)
            records += [JobRecord(**json.loads(i["record"]["S"])) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return sorted(records, key=lambda r: r.finished_at, reverse=True)

    # ---------------------------------------------------------------- the table

    def ensure_table(self) -> bool:
        """Create the table unless it exists (see :func:`.dynamodb_table.ensure_table`)."""
        return ensure_table(self.client, self.table)
