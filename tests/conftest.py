"""Shared fixtures: the sandbox (Docker engine, registry, moto) for I/O tests.

The session fixture ``sandbox`` runs :func:`reconciler.sandbox.lifecycle.up` once per
test session, so a fresh machine (CI) gets dockerd, the registry, moto, the fleet, the
demo images and the seeded AWS resources before the first test that needs
them; on a machine where they already run it only checks them (well under a
second). State lives in <repo>/.sandbox unless RECONCILER_SANDBOX_DIR says otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.lifecycle import SandboxInfo, up

#: fixtures shared by the Auto Scaling tests (a private moto and AWS front, throwaway groups)
pytest_plugins = ("tests.sandbox.asgkit",)

REPO = Path(__file__).resolve().parent.parent


def sandbox_state_dir() -> Path:
    env = os.environ.get("RECONCILER_SANDBOX_DIR")
    return Path(env).absolute() if env else REPO / ".sandbox"


@pytest.fixture(scope="session")
def sandbox() -> SandboxInfo:
    """The running sandbox: moto_url, registry, docker_host (and what up did)."""
    try:
        return up(sandbox_state_dir())
    except ReconcilerError as e:
        pytest.fail(f"the sandbox could not start: {e}", pytrace=False)
