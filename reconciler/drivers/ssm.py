"""SSM Parameter Store calls: :class:`SsmReader` (by-path pages, tags, owner-filtered listing) and
:class:`SsmWriter` (put, tag and delete, paced and retried, each safe to repeat). Does I/O.

The reader returns raw API dicts and names; deciding what they mean (merging
paths, wrapping SecureStrings) is :mod:`reconciler.observe.parameters`'s job. A name
that does not exist is ``None``/absent, never an error; every other failure is a
:class:`~reconciler.core.errors.TemporaryError` or :class:`~reconciler.core.errors.PermanentError`
naming the parameter and the endpoint.

Every mutating call goes through a shared :class:`~reconciler.drivers.aws.retrying.RateLimiter`
(PutParameter has no batch form and about 3 TPS) and is retried on
ThrottlingException/TooManyUpdates with backoff. AWS forbids ``Tags`` together
with ``Overwrite``: a create sends Tags, an update sends Overwrite=True and, for
an adopted parameter, adds the tags afterwards. A create that finds the name
already taken re-reads it and converges (overwrite if different) unless another
owner's tag is on it. A delete re-checks the ownership tag right before deleting.
Secret values never reach a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.core.model import OWNER_KEY, ParamType, Value, reveal
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import READ_RETRY_BUDGET, RateLimiter, read_retrying, write_retrying

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import TagTypeDef

T = TypeVar("T")
R = TypeVar("R")
PutOutcome = Literal["created", "updated", "unchanged"]
DeleteOutcome = Literal["deleted", "absent"]

PAGE_SIZE = 10  # GetParametersByPath maximum
DESCRIBE_PAGE_SIZE = 50  # DescribeParameters maximum
MISSING_CODES = frozenset({"InvalidResourceId", "ParameterNotFound"})


class SsmReader:
    """Read-only SSM calls used by the observers (works on a read-only client)."""

    def __init__(
        self,
        ssm: SSMClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        budget: float = READ_RETRY_BUDGET,
    ) -> None:
        self._ssm = ssm
        self.endpoint = endpoint_of(ssm)
        self._sleep, self._clock, self._budget = sleep, clock, budget

    def _read(self, call: Callable[[], R]) -> R:
        """One read call, retried while SSM throttles or fails temporarily (bounded)."""
        return read_retrying(call, sleep=self._sleep, clock=self._clock, budget=self._budget)

    def parameters_by_path(
        self, path: str, *, decrypt: bool, secure_only: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every parameter under ``path`` (recursive), raw, :data:`PAGE_SIZE` a page.
        ``secure_only`` filters to SecureString on the server."""
        with translate_errors(f"ssm {path}", endpoint=self.endpoint):
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {
                    "Path": path,
                    "Recursive": True,
                    "WithDecryption": decrypt,
                    "MaxResults": PAGE_SIZE,
                }
                if secure_only:
                    kwargs["ParameterFilters"] = [{"Key": "Type", "Option": "Equals", "Values": ["SecureString"]}]
                if token:
                    kwargs["NextToken"] = token
                page = self._read(partial(self._ssm.get_parameters_by_path, **kwargs))
                yield from (dict(raw) for raw in page.get("Parameters", []))
                token = page.get("NextToken")
                if not token:
                    return

    def tags(self, name: str, *, resource: str | None = None) -> dict[str, str] | None:
        """Tags of one parameter (one ListTagsForResource), None when it does not exist."""
        with translate_errors(resource or f"ssm {name}", endpoint=self.endpoint):
            try:
                resp = self._read(lambda: self._ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name))
            except ClientError as exc:
                if error_code(exc) in MISSING_CODES:
                    return None
                raise
        return {str(t["Key"]): str(t["Value"]) for t in resp.get("TagList", [])}

    def versions(self, names: Sequence[str]) -> dict[str, int]:
        """Current version of each named parameter (at most 10 names: one GetParameters, values
        not decrypted); missing names are absent."""
        if not names:
            return {}
        with translate_errors(f"ssm {names[0]}", endpoint=self.endpoint):
            resp = self._read(lambda: self._ssm.get_parameters(Names=list(names), WithDecryption=False))
        return {str(p["Name"]): int(p.get("Version", 1)) for p in resp.get("Parameters", [])}

    def owned_names(self, root: str, owner_key: str, owner: str) -> set[str]:
        """Names under ``root`` (recursive) whose ``owner_key`` tag is ``owner``: DescribeParameters
        filtered by tag on the server, one call per :data:`DESCRIBE_PAGE_SIZE` owned names."""
        filters: Sequence[Any] = [{"Key": f"tag:{owner_key}", "Values": [owner]}]
        if root != "/":
            filters = [*filters, {"Key": "Path", "Option": "Recursive", "Values": [root]}]
        return self._described(filters, f"ssm {root}")

    def owned_among(self, names: Sequence[str], owner_key: str, owner: str) -> set[str]:
        """Which of ``names`` carry the tag ``owner_key=owner``: DescribeParameters filtered by name
        (:data:`DESCRIBE_PAGE_SIZE` names a call) and by tag on the server, instead of one
        ListTagsForResource per name."""
        owned: set[str] = set()
        wanted = sorted(set(names))
        for start in range(0, len(wanted), DESCRIBE_PAGE_SIZE):
            batch = wanted[start : start + DESCRIBE_PAGE_SIZE]
            filters = [
                {"Key": "Name", "Option": "Equals", "Values": batch},
                {"Key": f"tag:{owner_key}", "Values": [owner]},
            ]
            owned |= self._described(filters, f"ssm {batch[0]}")
        return owned

    def _described(self, filters: Sequence[Any], resource: str) -> set[str]:
        """Names DescribeParameters returns for ``filters``, every page."""
        found: set[str] = set()
        with translate_errors(resource, endpoint=self.endpoint):
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"ParameterFilters": list(filters), "MaxResults": DESCRIBE_PAGE_SIZE}
                if token:
                    kwargs["NextToken"] = token
                page = self._read(partial(self._ssm.describe_parameters, **kwargs))
                found.update(str(p["Name"]) for p in page.get("Parameters", []))
                token = page.get("NextToken")
                if not token:
                    return found


class SsmWriter:
    def __init__(
        self,
        ssm: SSMClient,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ssm = ssm
        self._reader = SsmReader(ssm)
        self.endpoint = self._reader.endpoint
        self._sleep = sleep
        self._limiter = rate_limiter or RateLimiter(sleep=sleep)

    def _write(self, call: Callable[[], T]) -> T:
        return write_retrying(call, sleep=self._sleep, limiter=self._limiter)

    # ---- put -------------------------------------------------------------

    def put(
        self,
        name: str,
        type: ParamType,
        value: Value,
        *,
        overwrite: bool,
        tags: Mapping[str, str] | None = None,
    ) -> PutOutcome:
        """Create (``overwrite=False``, with ``tags``) or update (``overwrite=True``; ``tags``
        given = adopt: added after the put)."""
        text = reveal(value)
        with translate_errors(f"parameter {name}", secrets=(text,), endpoint=self.endpoint):
            if overwrite:
                self._put_overwrite(name, type, text)
                if tags:
                    self.add_tags(name, tags)
                return "updated"
            try:
                if tags:
                    tag_list = _tag_list(tags)
                    self._write(
                        lambda: self._ssm.put_parameter(Name=name, Type=type, Value=text, Tags=tag_list)
                    )
                else:
                    self._write(lambda: self._ssm.put_parameter(Name=name, Type=type, Value=text))
                return "created"
            except ClientError as exc:
                if error_code(exc) != "ParameterAlreadyExists":
                    raise
            return self._converge_existing(name, type, text, tags or {})

    def _put_overwrite(self, name: str, type: ParamType, text: str) -> None:
        self._write(lambda: self._ssm.put_parameter(Name=name, Type=type, Value=text, Overwrite=True))

    def _converge_existing(
        self, name: str, type: ParamType, text: str, tags: Mapping[str, str]
    ) -> PutOutcome:
        """The name appeared between observe and apply (or a previous run created it)."""
        current_tags = self.tags(name) or {}
        owner = current_tags.get(OWNER_KEY)
        wanted_owner = tags.get(OWNER_KEY)
        if owner is not None and wanted_owner is not None and owner != wanted_owner:
            raise PermanentError(
                f"parameter {name}",
                f"already exists and is owned by {owner!r}, not {wanted_owner!r}; left unchanged",
                endpoint=self.endpoint,
            )
        current = self._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        outcome: PutOutcome = "unchanged"
        if current.get("Type") != type or current.get("Value") != text:
            self._put_overwrite(name, type, text)
            outcome = "updated"
        missing = {k: v for k, v in tags.items() if current_tags.get(k) != v}
        if missing:
            self.add_tags(name, missing)
        return outcome

    # ---- tags ------------------------------------------------------------

    def tags(self, name: str) -> dict[str, str] | None:
        """Current tags, or None when the parameter does not exist."""
        return self._reader.tags(name, resource=f"parameter {name}")

    def add_tags(self, name: str, tags: Mapping[str, str]) -> None:
        with translate_errors(f"parameter {name}", endpoint=self.endpoint):
            self._write(
                lambda: self._ssm.add_tags_to_resource(
                    ResourceType="Parameter", ResourceId=name, Tags=_tag_list(tags)
                )
            )

    # ---- delete ----------------------------------------------------------

    def delete(self, name: str, *, expected_owner: str) -> DeleteOutcome:
        """Delete ``name`` only if it still carries ``expected_owner``; absent = already done."""
        current = self.tags(name)
        if current is None:
            return "absent"
        owner = current.get(OWNER_KEY)
        if owner != expected_owner:
            raise PermanentError(
                f"parameter {name}",
                f"not deleted: its owner tag is {owner!r}, expected {expected_owner!r}",
                endpoint=self.endpoint,
            )
        with translate_errors(f"parameter {name}", endpoint=self.endpoint):
            try:
                self._write(lambda: self._ssm.delete_parameter(Name=name))
            except ClientError as exc:
                if error_code(exc) == "ParameterNotFound":
                    return "absent"
                raise
        return "deleted"


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
