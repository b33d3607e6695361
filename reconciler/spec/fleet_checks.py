"""The checks of a fleet across documents: the rollout's health check names a service on the fleet. Pure.

What the Environment's models cannot check alone: ``spec.rollout.healthCheck.service`` must be
a service of a stack that runs on a host entry ``fromAutoScalingGroup`` (the gate probes it
there), and the port it asks is the one that service's container answers on the instance.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.errors import SpecIssue
from reconciler.spec.checks import Declared, known_names
from reconciler.spec.compose_model import ComposeModel
from reconciler.spec.documents import environment_hosts


def fleet_names(found: Declared) -> list[str]:
    """The Environment's host entries that are fleets."""
    env = found.environment
    if env is None or not env.spec.hosts:
        return []
    return [name for name, entry in env.spec.hosts.items() if entry.from_auto_scaling_group]


def rollout_issues(found: Declared, models: Mapping[str, ComposeModel]) -> list[SpecIssue]:
    """The health check's service runs on a fleet (when every stack's compose file could be read)."""
    env = found.environment
    if env is None or env.spec.rollout is None or env.spec.rollout.health_check is None:
        return []
    fleets = set(fleet_names(found))
    every = environment_hosts(env)
    on_fleet: set[str] = set()
    for name, stack in found.stacks.items():
        if name not in models:
            return []  # its compose file has its own problem: say nothing on top
        if fleets & set(stack.spec.hosts or every):
            on_fleet.update(models[name].services)
    wanted = env.spec.rollout.health_check.service
    if wanted in on_fleet:
        return []
    src = found.source("Environment", env.metadata.name)
    where = "no stack runs on a fleet" if not on_fleet else f"no stack on a fleet has it{known_names(on_fleet)}"
    return [src.issue(("spec", "rollout", "healthCheck", "service"), f"service '{wanted}': {where}")]
