"""A stack whose redis is included from a subfolder and extends a base file there, applied on the
sandbox's real engine.

The included service is deployed with the rest (pinned by digest through its Images entry, its
healthcheck, inherited through ``extends``, gating the backend's ``service_healthy``); a second
plan has nothing to do; a change in the extended base file recreates exactly that service.
"""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML

from e2e.conftest import EnvFactory
from reconciler.core.actions import RecreateService
from reconciler.render import render_report

pytestmark = pytest.mark.world

SERVICES = {"mysql", "redis", "backend", "frontend"}


def test_an_included_service_extending_a_base_file_is_deployed_and_follows_its_files(make_env: EnvFactory) -> None:
    env = make_env("dev")
    cache = env.root / "cache"
    cache.mkdir()
    moved: dict[str, Any] = {}

    def include_redis(data: Any) -> None:
        moved.update(data["services"].pop("redis"))
        data.insert(0, "include", ["cache/compose.yaml"])

    env.copy.edit_compose(include_redis)
    networks = moved.pop("networks")
    assert "healthcheck" in moved
    with (cache / "base.yaml").open("w") as fh:
        YAML().dump({"services": {"redis": moved}}, fh)
    (cache / "compose.yaml").write_text(
        "services:\n  redis:\n    extends: {file: base.yaml, service: redis}\n"
        f"    networks: [{', '.join(networks)}]\n"
        "networks:\n  popcon-network: {}\n"
    )

    first = env.reconcile()
    assert first.report is not None and first.report.ok, render_report(first.report)
    containers = env.containers()
    assert set(containers) == SERVICES
    assert "(healthy)" in str(containers["redis"]["Status"])
    ids = env.ids()

    second = env.reconcile(apply=False)
    assert not second.plan.plan.actions and not second.plan.plan.problems

    base = cache / "base.yaml"
    base.write_text(base.read_text().replace("  redis:\n", "  redis:\n    environment: {CACHE_NOTE: tuned}\n", 1))
    third = env.reconcile()
    assert third.report is not None and third.report.ok, render_report(third.report)
    recreated = {a.service for a in third.plan.plan.actions if isinstance(a, RecreateService)}
    assert recreated == {"redis"}
    assert {name for name, cid in env.ids().items() if cid != ids[name]} == {"redis"}
