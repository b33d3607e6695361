"""Pydantic models of the spec documents in environments/<env>/*.yaml. Pure.

Four kinds, each a Kubernetes-style document ``{apiVersion, kind, metadata,
spec}``: :class:`Environment`, :class:`ParameterSet`, :class:`Images` and
:class:`ComposeStack`. The models check everything one document can check
on its own (field names and types, name formats, SSM path rules, the
SecureString rule, tag/digest grammar); rules that need several documents
(references, duplicates across files, the compose file) live in
:mod:`reconciler.spec.loader`. Field descriptions feed the JSON Schemas and
the reference pages under ``specs/``. Validation is strict: a YAML number or
boolean is not silently turned into a string (``tag: 1.10`` would become
``1.1``), so such values must be quoted.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

API_VERSION = "reconciler.dev/v1alpha1"

NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?")
ENTRY_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
ACCOUNT_RE = re.compile(r"[0-9]{12}")
OWNERSHIP_RE = re.compile(r"[A-Za-z0-9_.:/=+@-]{1,256}")
SSM_CHARS_RE = re.compile(r"[A-Za-z0-9_.\-/]+")

MAX_VALUE_BYTES = 4096  # SSM standard tier
MAX_NAME_LENGTH = 1011  # SSM: full parameter name
MAX_LEVELS = 15  # SSM: hierarchy depth
ParamType = Literal["String", "StringList", "SecureString"]
RegistryType = Literal["oci", "ecr"]


def _err(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def describe_value(value: object) -> str:
    """How a YAML value reads in a message: ``a number (3306)``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ---- SSM name rules (shared with the loader) -------------------------------


def ssm_path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid SSM hierarchy path (or full name), or None."""
    if not path.startswith("/"):
        return f"'{path}' must start with '/'"
    if path == "/":
        return "'/' is not a usable path; name at least one level, e.g. /myapp/dev"
    if path.endswith("/"):
        return f"'{path}' must not end with '/'"
    if "//" in path:
        return f"'{path}' has an empty level ('//')"
    if not SSM_CHARS_RE.fullmatch(path):
        bad = "".join(sorted({c for c in path if not SSM_CHARS_RE.fullmatch(c)}))
        return f"'{path}' has characters SSM does not allow ({bad!r}); allowed are a-z A-Z 0-9 _ . - /"
    first = path.split("/")[1].lower()
    if first.startswith(("aws", "ssm")):
        return f"'{path}': SSM names must not begin with 'aws' or 'ssm' (case-insensitive; reserved by AWS)"
    return None


def ssm_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid full SSM parameter name, or None."""
    problem = ssm_path_problem(name)
    if problem:
        return problem
    levels = len(name.strip("/").split("/"))
    if levels > MAX_LEVELS:
        return f"'{name}' has {levels} levels; SSM allows at most {MAX_LEVELS}"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long; SSM allows at most {MAX_NAME_LENGTH}"
    return None


# ---- constrained strings ----------------------------------------------------


def _check_name(value: str) -> str:
    if len(value) > 63 or not NAME_RE.fullmatch(value):
        raise _err(
            "name",
            f"'{value}' is not a valid name: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters",
        )
    return value


def _check_ssm_path(value: str) -> str:
    problem = ssm_path_problem(value)
    if problem:
        raise _err("ssm_path", problem)
    return value


def _check_param_key(value: str) -> str:
    if not value:
        raise _err("ssm_key", "a parameter key must not be empty")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise _err("ssm_key", f"'{value}': a key must not start or end with '/' nor contain '//'")
    if not SSM_CHARS_RE.fullmatch(value):
        bad = "".join(sorted({c for c in value if not SSM_CHARS_RE.fullmatch(c)}))
        raise _err(
            "ssm_key",
            f"'{value}' has characters SSM does not allow in names ({bad!r}); "
            "allowed are a-z A-Z 0-9 _ . - /",
        )
    return value


def _check_env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        raise _err("env_name", f"'{value}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _check_tag(value: str) -> str:
    if not TAG_RE.fullmatch(value):
        raise _err(
            "tag",
            f"'{value}' is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'",
        )
    return value


def _check_digest(value: str) -> str:
    if not DIGEST_RE.fullmatch(value):
        raise _err(
            "digest", f"'{value}' is not a digest: expected sha256: followed by 64 lowercase hex digits"
        )
    return value


def _check_repository(value: str) -> str:
    first = value.split("/", 1)[0]
    if "/" in value and ("." in first or ":" in first or first == "localhost"):
        raise _err(
            "repository",
            f"'{value}' starts with a registry host ('{first}'); put the host in registry.url "
            "and keep only the path here",
        )
    if len(value) > 255 or not REPOSITORY_RE.fullmatch(value):
        raise _err(
            "repository",
            f"'{value}' is not a valid repository path: lowercase letters and digits, separated by "
            "'.', '_', '__' or '-', components joined by '/'",
        )
    return value


def _check_host(value: str) -> str:
    if "://" in value:
        raise _err(
            "host",
            f"'{value}': give host[:port] without a scheme (for plain http set insecure: true)",
        )
    if not HOST_RE.fullmatch(value):
        raise _err("host", f"'{value}' is not a host[:port]")
    return value


def _check_region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise _err("region", f"'{value}' is not an AWS region name (e.g. ap-northeast-2)")
    return value


def _check_account(value: str) -> str:
    if not ACCOUNT_RE.fullmatch(value):
        raise _err("account", f"'{value}' is not an AWS account id (12 digits, quoted)")
    return value


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise _err("url", f"'{value}' must be an http:// or https:// URL")
    return value


def _check_docker_host(value: str) -> str:
    if not value.startswith(("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")):
        raise _err("docker_host", f"'{value}' is not a Docker host (unix://, tcp:// or ssh://)")
    return value


def _check_ownership(value: str) -> str:
    if not OWNERSHIP_RE.fullmatch(value):
        raise _err(
            "ownership",
            f"'{value}' cannot be an AWS tag value: 1-256 of letters, digits and _ . : / = + @ -",
        )
    return value


def _check_compose_file(value: str) -> str:
    if not value:
        raise _err("compose_file", "must name the compose file, e.g. docker-compose.yml")
    if value.startswith("/"):
        raise _err("compose_file", f"'{value}' must be relative to the environment folder")
    return value


def _check_entry_name(value: str) -> str:
    if not ENTRY_NAME_RE.fullmatch(value):
        raise _err("entry_name", f"'{value}' is not a valid entry name (letters, digits, '_', '.', '-')")
    return value


def _check_project(value: str) -> str:
    if not PROJECT_RE.fullmatch(value):
        raise _err(
            "project",
            f"'{value}' is not a valid compose project name: lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit",
        )
    return value


def _check_non_empty(value: str) -> str:
    if not value:
        raise _err("empty", "must not be empty")
    return value


def _pattern(regex: re.Pattern[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{regex.pattern}$"})


ResourceName = Annotated[str, AfterValidator(_check_name), _pattern(NAME_RE)]
SsmPath = Annotated[str, AfterValidator(_check_ssm_path), WithJsonSchema({"type": "string", "pattern": "^/"})]
ParameterKey = Annotated[str, AfterValidator(_check_param_key), _pattern(SSM_CHARS_RE)]
EnvName = Annotated[str, AfterValidator(_check_env_name), _pattern(ENV_NAME_RE)]
Tag = Annotated[str, AfterValidator(_check_tag), _pattern(TAG_RE)]
Digest = Annotated[str, AfterValidator(_check_digest), _pattern(DIGEST_RE)]
Repository = Annotated[str, AfterValidator(_check_repository), _pattern(REPOSITORY_RE)]
HostPort = Annotated[str, AfterValidator(_check_host), _pattern(HOST_RE)]
Region = Annotated[str, AfterValidator(_check_region), _pattern(REGION_RE)]
AccountId = Annotated[str, AfterValidator(_check_account), _pattern(ACCOUNT_RE)]
HttpUrl = Annotated[
    str, AfterValidator(_check_url), WithJsonSchema({"type": "string", "pattern": "^https?://"})
]
DockerHost = Annotated[str, AfterValidator(_check_docker_host)]
Ownership = Annotated[str, AfterValidator(_check_ownership), _pattern(OWNERSHIP_RE)]
ComposeFilePath = Annotated[str, AfterValidator(_check_compose_file)]
EntryName = Annotated[str, AfterValidator(_check_entry_name), _pattern(ENTRY_NAME_RE)]
Reference = Annotated[str, AfterValidator(_check_non_empty)]
ProjectName = Annotated[str, AfterValidator(_check_project), _pattern(PROJECT_RE)]


# ---- base ---------------------------------------------------------------------


class SpecModel(BaseModel):
    """Base of every spec model: camelCase keys, unknown keys rejected, strict types, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Metadata(SpecModel):
    name: ResourceName = Field(
        description="Name of the document, unique per kind in the environment: lowercase letters, "
        "digits and '-', at most 63 characters."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form string labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Free-form string annotations.")


class Document(SpecModel):
    api_version: Literal["reconciler.dev/v1alpha1"] = Field(description="Always reconciler.dev/v1alpha1.")
    kind: str
    metadata: Metadata = Field(description="Name (unique per kind), labels and annotations.")


# ---- Environment ----------------------------------------------------------------


class RegistrySection(SpecModel):
    """Where images are pulled from and how the reconciler resolves tags to digests."""

    type: RegistryType = Field(
        default="oci",
        description="oci: a plain Docker/OCI registry (HTTP API v2); "
        "ecr: Amazon ECR (digests via the ECR API).",
    )
    url: HostPort | None = Field(
        default=None,
        description="Registry host[:port], no scheme. Required for oci; for ecr derived from accountId "
        "and the Environment's aws.region when omitted.",
    )
    insecure: bool = Field(default=False, description="oci only: talk plain http instead of https.")
    account_id: AccountId | None = Field(
        None, description="ecr only: the 12-digit AWS account id (quoted) owning the repositories."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySection:
        if self.type == "oci":
            if self.url is None:
                raise _err("registry", "an oci registry needs url: host[:port]")
            if self.account_id is not None:
                raise _err("registry", "accountId is for ecr registries only")
        else:
            if self.url is None and self.account_id is None:
                raise _err("registry", "an ecr registry needs accountId (or url)")
            if self.insecure:
                raise _err("registry", "insecure is for oci registries only; ECR always uses https")
        return self


class AwsSection(SpecModel):
    region: Region = Field(description="AWS region of SSM and ECR, e.g. ap-northeast-2.")
    endpoint_url: HttpUrl | None = Field(
        default=None,
        description="Endpoint override for SSM and ECR (e.g. the sandbox's moto server "
        "http://127.0.0.1:4566). Default: AWS.",
    )


class DockerSection(SpecModel):
    host: DockerHost | None = Field(
        default=None,
        description="Docker engine address, e.g. unix:///var/run/docker.sock. Default: DOCKER_HOST, "
        "else the local socket.",
    )


class TlsSection(SpecModel):
    cert_path: Reference = Field(
        description="Folder holding ca.pem, cert.pem and key.pem (Docker's layout), relative to the "
        "environment folder or absolute."
    )
    verify: bool = Field(True, description="Verify the engine's certificate against ca.pem.")


class HostEntry(SpecModel):
    docker: DockerHost = Field(
        description="The host's Docker engine: unix:///var/run/docker.sock, tcp://10.0.1.11:2376 (with "
        "tls) or ssh://ec2-user@10.0.1.11."
    )
    tls: TlsSection | None = Field(None, description="Client certificates for a tcp:// engine with TLS.")
    variables: dict[EnvName, str] = Field(
        default_factory=dict,
        description="Plain Compose interpolation variables for the stacks on this host (e.g. a port "
        "that differs per host). Not for secrets: they are in git.",
    )


class StateStoreSection(SpecModel):
    type: Literal["sqlite", "dynamodb"] = Field(
        "sqlite",
        description="sqlite: a file in the state dir (one machine, no AWS needed). dynamodb: a table in "
        "the environment's AWS account and region (aws.endpointUrl applies), for loops on several "
        "machines and for reading status from anywhere; `reconciler sandbox up` creates the sandbox's.",
    )
    table: ResourceName | None = Field(
        None, description="The DynamoDB table (type dynamodb only). Default: reconciler-state."
    )

    @model_validator(mode="after")
    def _table_for_dynamodb(self) -> StateStoreSection:
        if self.table is not None and self.type != "dynamodb":
            raise _err("table", "a table is for type dynamodb only")
        return self


class EnvironmentSection(SpecModel):
    aws: AwsSection = Field(description="AWS settings for SSM Parameter Store and ECR.")
    docker: DockerSection | None = Field(
        default=None,
        description="The Docker engine of an environment with one host (named 'default'). Use 'hosts' "
        "for several.",
    )
    hosts: dict[ResourceName, HostEntry] | None = Field(
        default=None,
        description="Named Docker hosts (e.g. web-1, web-2), in rollout order. Default: one host named "
        "'default' at docker.host.",
    )
    parameter_prefix: SsmPath = Field(
        description="SSM path every ParameterSet of this environment must live under, e.g. /popcon/dev."
    )
    registry: RegistrySection | None = Field(
        None, description="Default registry of Images entries that do not name their own."
    )
    ownership: Ownership | None = Field(
        default=None,
        description="Value of the reconciler.dev/owner tag and label on everything this environment "
        "creates. Default: reconciler-<metadata.name>. Only resources carrying it are ever deleted.",
    )
    self_heal: bool = Field(
        True,
        description="In the reconcile loop (`reconciler run`): correct drift (out-of-band changes) at every "
        "tick. false: drift is reported (condition OutOfSync) and nothing is changed until a new commit.",
    )
    state_store: StateStoreSection | None = Field(
        None,
        description="Where the loop's lease, status and history live. Default: sqlite in the state dir.",
    )

    @model_validator(mode="after")
    def _one_host_form(self) -> EnvironmentSection:
        if self.docker is not None and self.hosts is not None:
            raise _err("hosts", "give either 'docker' (one host) or 'hosts' (named hosts), not both")
        if self.hosts is not None and not self.hosts:
            raise _err("hosts", "name at least one host, or leave 'hosts' out for the local engine")
        return self


class Environment(Document):
    """The environment itself: where AWS and Docker are, the SSM prefix, the default registry.

    Exactly one per environment folder."""

    kind: Literal["Environment"] = Field(description="Environment")
    spec: EnvironmentSection = Field(description="AWS, Docker, SSM prefix, registry and ownership settings.")


# ---- ParameterSet ---------------------------------------------------------------


def _string_list_value(value: object) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                hint = "; quote it" if isinstance(item, int | float | bool) else ""
                raise _err("value_type", f"item {i} must be a string, got {describe_value(item)}{hint}")
        return value
    hint = "; quote it" if isinstance(value, int | float | bool) else ""
    raise _err(
        "value_type", f"value must be a string (or a list of strings), got {describe_value(value)}{hint}"
    )


ParameterValue = Annotated[
    str | list[str], PlainValidator(_string_list_value, json_schema_input_type=str | list[str])
]


class ParameterEntry(SpecModel):
    """One parameter: a literal String/StringList value, or a SecureString taken from an
    environment variable (fromEnv) or already in SSM (external)."""

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
    description: str | None = Field(default=None, description="Free text for humans.")

    @model_validator(mode="after")
    def _rules(self) -> ParameterEntry:
        if self.external is False:
            raise _err("parameter", "external: false means nothing here; remove it (or use external: true)")
        if self.type == "SecureString":
            if self.value is not None:
                raise _err(
                    "secure_literal",
                    "a SecureString cannot have a literal value in git; use fromEnv: VAR or external: true",
                )
            if self.from_env is not None and self.external:
                raise _err("parameter", "give either fromEnv or external: true, not both")
            if self.from_env is None and not self.external:
                raise _err(
                    "parameter",
                    "a SecureString needs fromEnv: VAR (value from an environment variable at plan/apply "
                    "time) or external: true (already in SSM)",
                )
            return self
        if self.from_env is not None or self.external:
            field = "fromEnv" if self.from_env is not None else "external"
            raise _err(
                "parameter",
                f"{field} is for SecureString only; a {self.type} takes a literal value "
                "(for a secret use type: SecureString)",
            )
        if self.value is None:
            raise _err("parameter", f"a {self.type} needs a value")
        if self.type == "String" and isinstance(self.value, list):
            raise _err("parameter", "a String value must be a string; for a list use type: StringList")
        if isinstance(self.value, list):
            if not self.value:
                raise _err("parameter", "a StringList needs at least one item")
            for i, item in enumerate(self.value):
                if "," in item:
                    raise _err(
                        "parameter",
                        f"StringList item {i} ({item!r}) contains a comma; SSM separates items with commas",
                    )
        text = self.joined_value() or ""
        if text == "":
            raise _err("parameter", "the value is empty; SSM cannot store an empty value")
        size = len(text.encode())
        if size > MAX_VALUE_BYTES:
            raise _err(
                "parameter",
                f"the value is {size} bytes; an SSM standard parameter holds at most {MAX_VALUE_BYTES}",
            )
        return self

    def joined_value(self) -> str | None:
        """The value as SSM stores it (StringList items joined with ',')."""
        if isinstance(self.value, list):
            return ",".join(self.value)
        return self.value


def _parameter_shorthand(data: Any) -> Any:
    if isinstance(data, str):
        return {"value": data}
    if isinstance(data, dict):
        return data
    hint = "; quote it" if isinstance(data, int | float | bool) else ""
    raise _err(
        "parameter",
        "a parameter is a string (a String value) or a mapping {type, value | fromEnv | external}; "
        f"got {describe_value(data)}{hint}",
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


# ---- Images ----------------------------------------------------------------------


class ImageEntry(SpecModel):
    repository: Repository = Field(description="Repository path inside the registry, e.g. popcon/backend.")
    tag: Tag | None = Field(
        None, description="Tag to run; resolved to its digest at plan time. Exactly one of tag or digest."
    )
    digest: Digest | None = Field(
        None, description="Pinned digest sha256:<64 hex>. Exactly one of tag or digest."
    )
    registry: RegistrySection | None = Field(
        None, description="Registry of this image; default: the Environment's registry."
    )
    description: str | None = Field(default=None, description="Free text for humans.")

    @model_validator(mode="after")
    def _tag_xor_digest(self) -> ImageEntry:
        if self.tag is not None and self.digest is not None:
            raise _err("image", "give either tag or digest, not both")
        if self.tag is None and self.digest is None:
            raise _err("image", "an image needs a tag or a digest")
        return self


class ImagesSection(SpecModel):
    images: dict[EntryName, ImageEntry] = Field(
        description="Entry name -> image. ComposeStack services refer to entries by name; names are "
        "unique across all Images documents."
    )


class Images(Document):
    """Named container images: repository plus tag (resolved to a digest) or a pinned digest."""

    kind: Literal["Images"] = Field(description="Images")
    spec: ImagesSection = Field(description="The named images.")


# ---- ComposeStack ----------------------------------------------------------------


class StackService(SpecModel):
    image: Reference | None = Field(
        default=None,
        description="Name of an Images entry; the container runs it pinned by digest. Default: the "
        "compose file's own image string, unchanged.",
    )
    environment_from: list[Reference] = Field(
        default_factory=list,
        description="ParameterSets whose keys are injected as the container's environment variables.",
    )


class ComposeStackSection(SpecModel):
    compose_file: ComposeFilePath = Field(
        description="The stack's standard compose file, relative to the environment folder. It is "
        "never read as a spec document."
    )
    project: ProjectName | None = Field(
        None, description="Compose project name. Default: <environment name>-<stack name>."
    )
    parameter_sets: list[Reference] = Field(
        default_factory=list,
        description="ParameterSets whose keys become the stack's .env, for ${VAR} interpolation in the "
        "compose file.",
    )
    prune: bool = Field(
        True, description="Remove this environment's containers of services no longer in the compose file."
    )
    hosts: list[ResourceName] = Field(
        default_factory=list,
        description="The Environment's hosts this stack runs on, in rollout order (a host finishes before "
        "the next starts). Default: the environment's only host; required when it has several.",
    )
    services: dict[str, StackService] = Field(
        default_factory=dict,
        description="Per compose service settings; every key must be a service of the compose file. "
        "Services not listed run as the compose file says.",
    )


class ComposeStack(Document):
    """A Docker Compose project: a compose file plus its images and parameters."""

    kind: Literal["ComposeStack"] = Field(description="ComposeStack")
    spec: ComposeStackSection = Field(description="The compose file and how parameters and images feed it.")


KINDS: dict[str, type[Document]] = {
    "Environment": Environment,
    "ParameterSet": ParameterSet,
    "Images": Images,
    "ComposeStack": ComposeStack,
}
