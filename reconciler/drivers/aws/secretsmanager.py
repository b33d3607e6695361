"""AWS Secrets Manager reads: secret values at a version stage, one call per secret or batched. Does I/O (boto3).

:class:`SecretsReader` makes the reads of one observation and nothing else
(Secrets Manager is never written): the secrets wanted at AWSCURRENT in
BatchGetSecretValue calls of up to 20 ids when there are two or more (one
GetSecretValue for a single one), each secret wanted at another stage with
one GetSecretValue. It returns the raw API dicts by the id asked for; what
they mean is :mod:`reconciler.observe.secretsmanager`'s job. A secret that
does not exist (or has no version at the stage) is absent, never an error;
every other failure is a :class:`~reconciler.core.errors.TemporaryError` or
:class:`~reconciler.core.errors.PermanentError` naming the secret and the
endpoint. Reads are retried on throttling and 5xx (:mod:`.retrying`). No
value ever reaches a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.drivers.aws.clients import client_config
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import READ_RETRY_BUDGET, read_retrying

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["BATCH_SIZE", "SecretsReader", "make_secrets_client"]

AWSCURRENT = "AWSCURRENT"
BATCH_SIZE = 20  # BatchGetSecretValue SecretIdList maximum
MISSING_CODES = frozenset({"ResourceNotFoundException"})


def make_secrets_client(session: boto3.Session, region: str, endpoint_url: str | None) -> SecretsManagerClient:
    """The Secrets Manager client in ``region`` (``endpoint_url``: moto in the sandbox)."""
    with translate_errors(f"aws {region}", endpoint=endpoint_url or ""):
        return session.client("secretsmanager", region_name=region, endpoint_url=endpoint_url, config=client_config())


def _matches(secret_id: str, entry: Mapping[str, Any]) -> bool:
    """The entry BatchGetSecretValue returned for ``secret_id`` (a name, an ARN, or an ARN without
    its random suffix)."""
    arn = str(entry.get("ARN", ""))
    return secret_id in (entry.get("Name"), arn) or (secret_id.startswith("arn:") and arn.startswith(secret_id + "-"))


class SecretsReader:
    """The Secrets Manager reads of an observation (works on a read-only client)."""

    def __init__(
        self,
        client: SecretsManagerClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: float = READ_RETRY_BUDGET,
    ) -> None:
        self._client = client
        self.endpoint = endpoint_of(client)
        self._sleep, self._clock, self._budget = sleep, clock, budget

    def _read(self, call: Callable[[], Any]) -> Any:
        return read_retrying(call, sleep=self._sleep, clock=self._clock, budget=self._budget)

    def read(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """(secret id, version stage) -> GetSecretValue's answer, for those that exist."""
        pairs = sorted(set(wanted))
        current = [secret_id for secret_id, stage in pairs if stage == AWSCURRENT]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if len(current) > 1:
            for secret_id, raw in self.batch(current).items():
                found[(secret_id, AWSCURRENT)] = raw
        for secret_id, stage in pairs:
            if (secret_id, stage) in found or (stage == AWSCURRENT and len(current) > 1):
                continue
            alone = self.one(secret_id, stage)
            if alone is not None:
                found[(secret_id, stage)] = alone
        return found

    def one(self, secret_id: str, stage: str) -> dict[str, Any] | None:
        """One GetSecretValue (None: no such secret, or no version at ``stage``)."""
        with translate_errors(f"secret {secret_id}", endpoint=self.endpoint):
            try:
                answer = self._read(lambda: self._client.get_secret_value(SecretId=secret_id, VersionStage=stage))
            except ClientError as exc:
                if error_code(exc) in MISSING_CODES:
                    return None
                raise
        return dict(answer)

    def batch(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """AWSCURRENT of each id (BatchGetSecretValue, 20 ids a call); missing ones are absent; an id
        the answer does not name is read on its own."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = list(ids[start : start + BATCH_SIZE])
            entries, errors = self._batch_pages(chunk)
            for error in errors:
                secret_id = str(error.get("SecretId", ""))
                code = str(error.get("ErrorCode", ""))
                if code not in MISSING_CODES:
                    message = str(error.get("Message", "")).strip()
                    raise PermanentError(
                        f"secret {secret_id}",
                        f"BatchGetSecretValue failed ({code}){': ' + message if message else ''}",
                        endpoint=self.endpoint,
                    )
            missing = {str(e.get("SecretId", "")) for e in errors}
            for secret_id in chunk:
                entry = next((e for e in entries if _matches(secret_id, e)), None)
                if entry is not None:
                    found[secret_id] = entry
                elif secret_id not in missing:
                    alone = self.one(secret_id, AWSCURRENT)
                    if alone is not None:
                        found[secret_id] = alone
        return found

    def _batch_pages(self, chunk: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        entries: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        token: str | None = None
        with translate_errors(f"secret {chunk[0]}", endpoint=self.endpoint):
            while True:
                kwargs: dict[str, Any] = {"SecretIdList": chunk}
                if token:
                    kwargs["NextToken"] = token
                page = self._read(partial(self._client.batch_get_secret_value, **kwargs))
                entries.extend(dict(e) for e in page.get("SecretValues", []))
                errors.extend(dict(e) for e in page.get("Errors", []))
                token = page.get("NextToken")
                if not token:
                    return entries, errors
