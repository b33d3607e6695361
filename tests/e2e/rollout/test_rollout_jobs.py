"""A stack's one-off job over the sandbox's fleet for real: the shared prod copy (conftest.py) gets a job
before its frontend, and a tag bump rolls over the instances one at a time. The job runs once, on the
first instance, after it left the load balancer and before its frontend changes, never on the second;
no job container is left on any instance; the next plan has nothing to do."""

from __future__ import annotations

import re
from typing import Any

import docker
import pytest

from e2e.rollout.fleetkit import until
from e2e.rollout.kit import Deployed, serving, set_tag
from reconciler.core.model import COMPOSE_PROJECT, JOB_KEY

pytestmark = pytest.mark.world

JOB = {"service": "frontend", "command": ["sh", "-c", "echo migrating on $(hostname); echo done"],
       "before": ["frontend"], "timeout": "1m"}  # fmt: skip


def _done(output: str) -> list[str]:
    """The finished steps, the frontend's changes and the job, in the order the apply did them."""
    found = re.findall(
        r"^  done +((?:instance:\S+/(?:leave|join))|service:\S+/popcon/frontend|job:popcon/migrate)", output, re.M
    )
    return list(found)


def test_a_job_runs_once_on_the_first_instance_of_a_rollout(prod: Deployed, fleet: dict[str, docker.APIClient]) -> None:
    def add_job(spec: Any) -> None:
        spec["jobs"] = {"migrate": JOB}

    prod.env.copy.edit("ComposeStack", None, add_job)
    set_tag(prod.root, "frontend", prod.new)
    bump = prod.apply()
    out = bump.stdout + bump.stderr
    assert bump.returncode == 0, out
    one, two = fleet  # oldest first, as the rollout takes them
    assert _done(bump.stdout) == [
        f"instance:{one}/leave", "job:popcon/migrate", f"service:{one}/popcon/frontend", f"instance:{one}/join",
        f"instance:{two}/leave", f"service:{two}/popcon/frontend", f"instance:{two}/join",
    ], bump.stdout  # fmt: skip
    assert "job migrate exited 0" in out and "migrating on" in out, out
    until(f"the load balancer serving {prod.new}", lambda: serving(prod.new), timeout=30)
    for api in fleet.values():
        left = api.containers(all=True, filters={"label": [f"{COMPOSE_PROJECT}={prod.env.copy.project}", JOB_KEY]})
        assert left == [], "no job container is left"
    again = prod.plan()
    assert again.returncode == 0, again.stdout + again.stderr
