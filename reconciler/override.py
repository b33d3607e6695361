"""Render the per-stack Compose override mapping and the stack's dotenv text. Pure.

The override (no secrets, kept on disk for inspection) pins every service's
image by digest, puts the ownership/config-hash labels on it and injects the
``environmentFrom`` keys as ``KEY: ${KEY}`` references, which Compose resolves
from the env file. The dotenv text holds the values themselves; it is quoted so
that Compose's dotenv parser (compose-go) reads every value back verbatim and
never interpolates ``$`` inside it: single quotes when the value allows them,
otherwise double quotes with ``\\``, ``"``, ``$``, newline and carriage return escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.model import (
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    STACK_KEY,
    ServiceTarget,
    StackSpec,
    Value,
    reveal,
)

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SINGLE_QUOTE_SAFE = re.compile(r"[^'\\\x00-\x1f\x7f]*")


def render_override(
    stack: StackSpec,
    targets: Mapping[str, ServiceTarget],
    owner: str,
    environment: str,
    environment_keys: Mapping[str, tuple[str, ...]],
) -> dict[str, object]:
    """The override compose document for ``stack`` (services in the stack's order)."""
    services: dict[str, object] = {}
    for service in stack.services:
        target = targets.get(service.name)
        if target is None:
            continue
        entry: dict[str, object] = {}
        if target.image:
            entry["image"] = target.image
        entry["labels"] = {
            OWNER_KEY: owner,
            ENVIRONMENT_KEY: environment,
            STACK_KEY: stack.name,
            CONFIG_HASH_KEY: target.config_hash,
        }
        keys = environment_keys.get(service.name, ())
        if keys:
            for key in keys:
                _check_name(key)
            entry["environment"] = {key: "${" + key + "}" for key in sorted(set(keys))}
        services[service.name] = entry
    return {"services": services}


def quote_dotenv(value: str) -> str:
    if _SINGLE_QUOTE_SAFE.fullmatch(value):
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("$", "\\$")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )
    return f'"{escaped}"'


def render_dotenv(env: Mapping[str, Value]) -> str:
    """``KEY='value'`` lines, sorted by key. The text contains secret values."""
    lines = []
    for key in sorted(env):
        _check_name(key)
        value = reveal(env[key])
        if "\x00" in value:
            raise ValueError(f"{key}: an environment value cannot contain a NUL character")
        lines.append(f"{key}={quote_dotenv(value)}\n")
    return "".join(lines)


def _check_name(key: str) -> None:
    if not ENV_NAME.fullmatch(key):
        raise ValueError(f"{key!r} is not a valid environment variable name")
