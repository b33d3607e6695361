"""override.py (pure): the compose override mapping and dotenv quoting."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.model import (
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    STACK_KEY,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
)
from reconciler.planner.override import render_override


def spec() -> StackSpec:
    return StackSpec(
        name="popcon",
        project="dev-popcon",
        compose_file=Path("/x/docker-compose.yml"),
        project_dir=Path("/x"),
        services=(
            ServiceSpec("frontend", "{}", None),
            ServiceSpec("backend", "{}", None, environment_from=("cfg",)),
            ServiceSpec("built", "{}", None),
        ),
    )


def test_render_override_pins_labels_and_references() -> None:
    targets = {
        "backend": ServiceTarget("r/popcon/backend@sha256:b", "hb"),
        "frontend": ServiceTarget("r/popcon/frontend@sha256:f", "hf"),
        "built": ServiceTarget("", "hx"),
    }
    doc = render_override(spec(), targets, "popcon-dev", "dev", {"backend": ("DB_PASSWORD", "DB_HOST")})
    assert list(doc["services"]) == ["frontend", "backend", "built"]  # type: ignore[call-overload]
    assert doc == {
        "services": {
            "frontend": {
                "image": "r/popcon/frontend@sha256:f",
                "labels": {
                    OWNER_KEY: "popcon-dev",
                    ENVIRONMENT_KEY: "dev",
                    STACK_KEY: "popcon",
                    CONFIG_HASH_KEY: "hf",
                },
            },
            "backend": {
                "image": "r/popcon/backend@sha256:b",
                "labels": {
                    OWNER_KEY: "popcon-dev",
                    ENVIRONMENT_KEY: "dev",
                    STACK_KEY: "popcon",
                    CONFIG_HASH_KEY: "hb",
                },
                "environment": {"DB_HOST": "${DB_HOST}", "DB_PASSWORD": "${DB_PASSWORD}"},
            },
            "built": {
                "labels": {
                    OWNER_KEY: "popcon-dev",
                    ENVIRONMENT_KEY: "dev",
                    STACK_KEY: "popcon",
                    CONFIG_HASH_KEY: "hx",
                },
            },
        }
    }


def test_render_override_skips_services_without_target_and_rejects_bad_names() -> None:
    assert render_override(spec(), {}, "o", "e", {}) == {"services": {}}
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        render_override(spec(), {"backend": ServiceTarget("i", "h")}, "o", "e", {"backend": ("BAD-NAME",)})
