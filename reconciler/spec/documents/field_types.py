"""The constrained strings of spec fields: names, paths, tags, hosts, regions. Pure.

Each type is a ``str`` with a validator that rejects a bad value with a message saying what a
good one looks like, and (where a regular expression says it) the pattern the JSON Schemas
show. The models of every kind build their fields from these.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from reconciler.core.image_names import ImageNameError, parse_image
from reconciler.core.urls import url_problem
from reconciler.spec.documents.messages import invalid
from reconciler.spec.documents.ssm_names import SSM_CHARS_RE, ssm_disallowed, ssm_path_problem

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
# a Secrets Manager secret name (1-512 of letters, digits and /_+=.@-) or its ARN
SECRET_ID_RE = re.compile(
    r"(?:[A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)"
)


def _check_ssm_path(value: str) -> str:
    problem = ssm_path_problem(value)
    if problem:
        raise invalid("ssm_path", problem)
    return value


def _check_param_key(value: str) -> str:
    if not value:
        raise invalid("ssm_key", "a parameter key must not be empty")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise invalid("ssm_key", f"'{value}': a key must not start or end with '/' nor contain '//'")
    if not SSM_CHARS_RE.fullmatch(value):
        raise invalid(
            "ssm_key",
            f"'{value}' has characters SSM does not allow in names ({ssm_disallowed(value)!r}); "
            "allowed are a-z A-Z 0-9 _ . - /",
        )
    return value


def _check_repository_host(value: str) -> str:
    first = value.split("/", 1)[0]
    if "/" in value and ("." in first or ":" in first or first == "localhost"):
        raise invalid(
            "repository",
            f"'{value}' starts with a registry host ('{first}'); put the host in registry.url "
            f"and keep only the path here, or write the whole reference as image: (e.g. image: {value}:TAG)",
        )
    return value


def _check_image(value: str) -> str:
    try:
        parse_image(value)
    except ImageNameError as exc:
        raise invalid("image", f"'{value}': {exc}") from None
    return value


def _check_host(value: str) -> str:
    if "://" in value:
        raise invalid(
            "host",
            f"'{value}': give host[:port] without a scheme (for plain http set insecure: true)",
        )
    if not HOST_RE.fullmatch(value):
        raise invalid("host", f"'{value}' is not a host[:port]")
    return value


def _check_connectable(kind: str, value: str) -> str:
    problem = url_problem(value)
    if problem is not None:
        raise invalid(kind, f"'{value}' is not a valid URL: {problem}")
    return value


def _check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise invalid("url", f"'{value}' must be an http:// or https:// URL")
    return _check_connectable("url", value)


def check_docker_host(value: str) -> str:
    if not value.startswith(("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")):
        raise invalid("docker_host", f"'{value}' is not a Docker host (unix://, tcp:// or ssh://)")
    if value.startswith(("unix://", "npipe://")):  # a socket or pipe path has no host to check
        return value
    return _check_connectable("docker_host", value)


def _relative_path(kind: str, what: str) -> AfterValidator:
    """A validator of a path relative to the environment folder: not empty (it must name ``what``)
    and not absolute."""

    def check(value: str) -> str:
        if not value:
            raise invalid(kind, f"must name {what}")
        if value.startswith("/"):
            raise invalid(kind, f"'{value}' must be relative to the environment folder")
        return value

    return AfterValidator(check)


def _matching(regex: re.Pattern[str], kind: str, says: str, max_length: int | None = None) -> AfterValidator:
    """A validator that rejects a value longer than ``max_length`` or that ``regex`` does not match
    entirely, saying ``'<value>' <says>``."""

    def check(value: str) -> str:
        if (max_length is not None and len(value) > max_length) or not regex.fullmatch(value):
            raise invalid(kind, f"'{value}' {says}")
        return value

    return AfterValidator(check)


def _check_non_empty(value: str) -> str:
    if not value:
        raise invalid("empty", "must not be empty")
    return value


def _pattern(regex: re.Pattern[str]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{regex.pattern}$"})


# what a value that does not match says after '<value>'
_NAME_RULE = (
    "is not a valid name: use lowercase letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters"
)
_ENV_NAME_RULE = "is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
_TAG_RULE = "is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
_DIGEST_RULE = "is not a digest: expected sha256: followed by 64 lowercase hex digits"
_REPOSITORY_RULE = (
    "is not a valid repository path: lowercase letters and digits, separated by "
    "'.', '_', '__' or '-', components joined by '/'"
)
_REGION_RULE = "is not an AWS region name (e.g. ap-northeast-2)"
_ACCOUNT_RULE = "is not an AWS account id (12 digits, quoted)"
_OWNERSHIP_RULE = "cannot be an AWS tag value: 1-256 of letters, digits and _ . : / = + @ -"
_SECRET_ID_RULE = (
    "is not a Secrets Manager secret name (1-512 of letters, digits and / _ + = . @ -) nor a secret's ARN"
)
_ENTRY_NAME_RULE = "is not a valid entry name (letters, digits, '_', '.', '-')"
_PROJECT_RULE = (
    "is not a valid compose project name: lowercase letters, digits, '_' and '-', starting with a letter or digit"
)

ResourceName = Annotated[str, _matching(NAME_RE, "name", _NAME_RULE, max_length=63), _pattern(NAME_RE)]
SsmPath = Annotated[str, AfterValidator(_check_ssm_path), WithJsonSchema({"type": "string", "pattern": "^/"})]
ParameterKey = Annotated[str, AfterValidator(_check_param_key), _pattern(SSM_CHARS_RE)]
EnvName = Annotated[str, _matching(ENV_NAME_RE, "env_name", _ENV_NAME_RULE), _pattern(ENV_NAME_RE)]
Tag = Annotated[str, _matching(TAG_RE, "tag", _TAG_RULE), _pattern(TAG_RE)]
Digest = Annotated[str, _matching(DIGEST_RE, "digest", _DIGEST_RULE), _pattern(DIGEST_RE)]
Repository = Annotated[
    str,
    AfterValidator(_check_repository_host),
    _matching(REPOSITORY_RE, "repository", _REPOSITORY_RULE, max_length=255),
    _pattern(REPOSITORY_RE),
]
HostPort = Annotated[str, AfterValidator(_check_host), _pattern(HOST_RE)]
ImageReference = Annotated[str, AfterValidator(_check_image), WithJsonSchema({"type": "string", "minLength": 1})]
Region = Annotated[str, _matching(REGION_RE, "region", _REGION_RULE), _pattern(REGION_RE)]
AccountId = Annotated[str, _matching(ACCOUNT_RE, "account", _ACCOUNT_RULE), _pattern(ACCOUNT_RE)]
HttpUrl = Annotated[
    str, AfterValidator(_check_url), WithJsonSchema({"type": "string", "pattern": "^https?://"})
]
DockerHost = Annotated[str, AfterValidator(check_docker_host)]
Ownership = Annotated[str, _matching(OWNERSHIP_RE, "ownership", _OWNERSHIP_RULE), _pattern(OWNERSHIP_RE)]
ComposeFilePath = Annotated[str, _relative_path("compose_file", "the compose file, e.g. docker-compose.yml")]
ProjectDirectory = Annotated[str, _relative_path("project_directory", "a folder, e.g. '.' for the environment folder")]
SecretId = Annotated[str, _matching(SECRET_ID_RE, "secret_id", _SECRET_ID_RULE), _pattern(SECRET_ID_RE)]
EntryName = Annotated[str, _matching(ENTRY_NAME_RE, "entry_name", _ENTRY_NAME_RULE), _pattern(ENTRY_NAME_RE)]
Reference = Annotated[str, AfterValidator(_check_non_empty)]
ProjectName = Annotated[str, _matching(PROJECT_RE, "project", _PROJECT_RULE), _pattern(PROJECT_RE)]
