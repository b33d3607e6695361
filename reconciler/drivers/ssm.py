"""Write SSM parameters: put, tag and delete, paced and retried, each safe to repeat. Does I/O.

Every mutating call goes through a shared :class:`~reconciler.drivers.aws.RateLimiter`
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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, TypeVar

from botocore.exceptions import ClientError

from reconciler.drivers.aws import RateLimiter, error_code, translate_errors, write_retrying
from reconciler.errors import WorldError
from reconciler.model import OWNER_KEY, ParamType, Value, reveal

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import TagTypeDef

T = TypeVar("T")
PutOutcome = Literal["created", "updated", "unchanged"]
DeleteOutcome = Literal["deleted", "absent"]


class SsmWriter:
    def __init__(
        self,
        ssm: SSMClient,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ssm = ssm
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
        with translate_errors(f"parameter {name}", secrets=(text,)):
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
            raise WorldError(
                f"parameter {name}",
                f"already exists and is owned by {owner!r}, not {wanted_owner!r}; left unchanged",
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
        with translate_errors(f"parameter {name}"):
            try:
                resp = self._ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
            except ClientError as exc:
                if error_code(exc) in {"InvalidResourceId", "ParameterNotFound"}:
                    return None
                raise
        return {str(t["Key"]): str(t["Value"]) for t in resp.get("TagList", [])}

    def add_tags(self, name: str, tags: Mapping[str, str]) -> None:
        with translate_errors(f"parameter {name}"):
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
            raise WorldError(
                f"parameter {name}",
                f"not deleted: its owner tag is {owner!r}, expected {expected_owner!r}",
            )
        with translate_errors(f"parameter {name}"):
            try:
                self._write(lambda: self._ssm.delete_parameter(Name=name))
            except ClientError as exc:
                if error_code(exc) == "ParameterNotFound":
                    return "absent"
                raise
        return "deleted"


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
