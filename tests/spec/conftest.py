"""Fixtures for the spec tests: a writable copy of the valid environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import EnvFactory, copy_valid


@pytest.fixture
def make_env(tmp_path: Path) -> EnvFactory:
    """Copy cases/_valid to tmp_path/<name> with some files replaced or deleted."""

    def make(name: str = "dev", **files: str | None) -> Path:
        return copy_valid(tmp_path / name, **files)

    return make
