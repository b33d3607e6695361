"""The checks of ``rotation: instanceRefresh``: what AWS's StartInstanceRefresh would refuse of the
rollout settings, and the launch hook it needs. Pure.

AWS takes at most 10 alarms (the rollout's own limit, checked by the model) and a bake of at most
48 hours (``BakeTime``); an instance refresh puts each new instance in service (and the group
registers it in its target groups) as soon as it is running, so without ``launchHook`` the
reconciler could not converge a new instance before it takes traffic: refused.
"""

from __future__ import annotations

from reconciler.core.errors import SpecIssue
from reconciler.core.instance_refresh import spec_refusals
from reconciler.spec.checks import Declared
from reconciler.spec.rollout_spec import rollout_spec

NEEDS_HOOK = (
    "instanceRefresh needs launchHook (e.g. `launchHook: {}`): AWS puts each new instance in service as "
    "soon as it runs, and only a launch lifecycle hook holds it until the reconciler has converged its stacks"
)


def instance_refresh_issues(found: Declared) -> list[SpecIssue]:
    """``file:line: field: message`` for what an instance refresh cannot be started with."""
    env = found.environment
    section = env.spec.rollout if env is not None else None
    if env is None or section is None or section.rotation != "instanceRefresh":
        return []
    src = found.source("Environment", env.metadata.name)
    issues = [src.issue(("spec", "rollout", field), message) for field, message in spec_refusals(rollout_spec(section))]
    if section.launch_hook is None:
        issues.append(src.issue(("spec", "rollout", "rotation"), NEEDS_HOOK))
    return issues
