"""The ParameterSet kind: SSM parameters under one path, and the rules one parameter must keep. Pure."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainValidator, model_validator

from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import EnvName, ParameterKey, SecretId, SsmPath
from reconciler.spec.documents.messages import EMPTY_VALUE, describe_value, invalid, quote_hint
from reconciler.spec.documents.ssm_names import MAX_VALUE_BYTES

ParamType = Literal["String", "StringList", "SecureString"]


def _string_list_value(value: object) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise invalid("value_type", f"item {i} must be a string, got {describe_value(item)}{quote_hint(item)}")
        return value
    raise invalid(
        "value_type",
        f"value must be a string (or a list of strings), got {describe_value(value)}{quote_hint(value)}",
    )


ParameterValue = Annotated[
    str | list[str], PlainValidator(_string_list_value, json_schema_input_type=str | list[str])
]


class SecretsManagerSource(SpecModel):
    """Where in AWS Secrets Manager a value is read."""

    secret_id: SecretId = Field(description="The secret's name or ARN, e.g. table-order/db.")
    key: str | None = Field(
        default=None,
        min_length=1,
        description="A key of the secret's JSON object (SecretString {\"password\": ...}); the value is that "
        "key's. Default: the whole SecretString.",
    )
    version_stage: str = Field(
        default="AWSCURRENT",
        min_length=1,
        max_length=256,
        description="The version stage read (AWSCURRENT, AWSPREVIOUS, AWSPENDING or your own label).",
    )


class ParameterEntry(SpecModel):
    """One parameter: a literal String/StringList value, a SecureString taken from an
    environment variable (fromEnv) or already in SSM (external), or a value read from
    AWS Secrets Manager (fromSecretsManager)."""

    type: ParamType = Field(default="String", description="SSM parameter type.")
    value: ParameterValue | None = Field(
        default=None,
        description="Literal value (String, StringList). For StringList a list of strings without commas "
        "(or one comma-separated string). At most 4096 bytes. Never for SecureString.",
    )
    from_env: EnvName | None = Field(
        default=None,
        description="SecureString only: read the value from this environment variable of the reconciler "
        "process at plan/apply time. The parameter is written and kept in sync.",
    )
    external: bool | None = Field(
        default=None,
        description="SecureString only: the parameter must already exist in SSM; it is read to feed "
        "containers and never written or deleted.",
    )
    from_secrets_manager: SecretsManagerSource | None = Field(
        default=None,
        description="The value is read from AWS Secrets Manager (secretsmanager:GetSecretValue) at plan/apply "
        "time, never written anywhere: not to SSM, not to disk. It is a secret (type SecureString, masked "
        "everywhere) and feeds the stacks that use the set; the secret's version id is in their config hash, "
        "so a rotation recreates exactly the services that read it.",
    )
    description: str | None = Field(default=None, description="Free text for humans.")

    @model_validator(mode="after")
    def _rules(self) -> ParameterEntry:
        if self.external is False:
            raise invalid("parameter", "external: false means nothing here; remove it (or use external: true)")
        if self.from_secrets_manager is not None:
            _check_secrets_manager(self)
        elif self.type == "SecureString":
            _check_secure_source(self)
        else:
            _check_literal(self)
        return self

    def joined_value(self) -> str | None:
        """The value as SSM stores it (StringList items joined with ',')."""
        if isinstance(self.value, list):
            return ",".join(self.value)
        return self.value


def _check_secure_source(entry: ParameterEntry) -> None:
    """A SecureString comes from fromEnv or is external, never a literal in git."""
    if entry.value is not None:
        raise invalid(
            "secure_literal",
            "a SecureString cannot have a literal value in git; use fromEnv: VAR or external: true",
        )
    if entry.from_env is not None and entry.external:
        raise invalid("parameter", "give either fromEnv or external: true, not both")
    if entry.from_env is None and not entry.external:
        raise invalid(
            "parameter",
            "a SecureString needs fromEnv: VAR (value from an environment variable at plan/apply "
            "time) or external: true (already in SSM)",
        )


def _check_secrets_manager(entry: ParameterEntry) -> None:
    """A value from Secrets Manager is a secret and has no other source."""
    if "type" in entry.model_fields_set and entry.type != "SecureString":
        raise invalid(
            "parameter",
            f"a value from fromSecretsManager is a secret: leave type out (or type: SecureString), not {entry.type}",
        )
    given = {"value": entry.value is not None, "fromEnv": entry.from_env is not None, "external": bool(entry.external)}
    others = [name for name, present in given.items() if present]
    if others:
        raise invalid("parameter", f"give fromSecretsManager alone, without {', '.join(others)}")


def _check_literal(entry: ParameterEntry) -> None:
    """A String or StringList has a literal value of the right shape that SSM can store."""
    if entry.from_env is not None or entry.external:
        field = "fromEnv" if entry.from_env is not None else "external"
        raise invalid(
            "parameter",
            f"{field} is for SecureString only; a {entry.type} takes a literal value "
            "(for a secret use type: SecureString)",
        )
    if entry.value is None:
        raise invalid("parameter", f"a {entry.type} needs a value")
    if entry.type == "String" and isinstance(entry.value, list):
        raise invalid("parameter", "a String value must be a string; for a list use type: StringList")
    if isinstance(entry.value, list):
        _check_list_items(entry.value)
    _check_size(entry.joined_value() or "")


def _check_list_items(items: list[str]) -> None:
    if not items:
        raise invalid("parameter", "a StringList needs at least one item")
    for i, item in enumerate(items):
        if "," in item:
            raise invalid(
                "parameter",
                f"StringList item {i} ({item!r}) contains a comma; SSM separates items with commas",
            )


def _check_size(text: str) -> None:
    if text == "":
        raise invalid(EMPTY_VALUE, "the value is empty")
    size = len(text.encode())
    if size > MAX_VALUE_BYTES:
        raise invalid(
            "parameter",
            f"the value is {size} bytes; an SSM standard parameter holds at most {MAX_VALUE_BYTES}",
        )


def _parameter_shorthand(data: Any) -> Any:
    if isinstance(data, str):
        return {"value": data}
    if isinstance(data, dict):
        return data
    if data is None:
        raise invalid(EMPTY_VALUE, "no value (nothing after the key)")
    raise invalid(
        "parameter",
        "a parameter is a string (a String value) or a mapping {type, value | fromEnv | external | "
        "fromSecretsManager}; "
        f"got {describe_value(data)}{quote_hint(data)}",
    )


Parameter = Annotated[
    ParameterEntry, BeforeValidator(_parameter_shorthand, json_schema_input_type=str | ParameterEntry)
]


class ParameterSetSection(SpecModel):
    path: SsmPath = Field(
        description="SSM path of the set; a parameter's full name is path + '/' + key. Must be under "
        "the Environment's parameterPrefix."
    )
    prune: bool = Field(
        default=False,
        description="Delete parameters under path that carry this environment's ownership tag but are "
        "not in the set.",
    )
    parameters: dict[ParameterKey, Parameter] = Field(
        default_factory=dict,
        description="Key -> parameter. A plain string is shorthand for {type: String, value: ...}. "
        "Keys of sets used by a ComposeStack become environment variable names.",
    )


class ParameterSet(Document):
    """A group of SSM parameters under one path."""

    kind: Literal["ParameterSet"] = Field(description="ParameterSet")
    spec: ParameterSetSection = Field(description="The SSM path and the parameters under it.")
