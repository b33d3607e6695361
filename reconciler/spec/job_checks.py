"""Check each ComposeStack's jobs against its compose file. Pure.

A job (``spec.jobs.<name>``) runs with one of the stack's compose services and before others:
:func:`job_issues` says, as ``file:line: field: message``, when ``service`` or a name in
``before`` is not a service Compose deploys for the stack (not in the compose file, or only under
a profile, which the reconciler never enables). A stack whose compose file could not be read is
left to the compose-file checks.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.errors import SpecIssue
from reconciler.spec.checks import Declared
from reconciler.spec.compose_model import ComposeModel
from reconciler.spec.source import Loc, SourceDoc


def job_issues(found: Declared, models: Mapping[str, ComposeModel]) -> list[SpecIssue]:
    """The jobs' ``service`` and ``before`` name services of their stack's compose file."""
    issues: list[SpecIssue] = []
    for stack_name, stack in found.stacks.items():
        compose = models.get(stack_name)
        if compose is None or not stack.spec.jobs:
            continue
        src = found.source("ComposeStack", stack_name)
        deployed = [name for name, service in compose.services.items() if not service.profiles]
        for job_name, job in stack.spec.jobs.items():
            loc: Loc = ("spec", "jobs", job_name)
            issue = _service_issue(src, (*loc, "service"), job.service, compose, deployed, "runs with")
            issues += [issue] if issue is not None else []
            for i, name in enumerate(job.before):
                issue = _service_issue(src, (*loc, "before", i), name, compose, deployed, "runs before")
                issues += [issue] if issue is not None else []
    return issues


def _service_issue(
    src: SourceDoc, loc: Loc, name: str, compose: ComposeModel, deployed: list[str], what: str
) -> SpecIssue | None:
    if name in deployed:
        return None
    known = ", ".join(deployed)
    if name in compose.services:
        return src.issue(
            loc,
            f"service '{name}' of {compose.display} has profiles: the reconciler never deploys it, so a job "
            f"cannot run with it or before it (services: {known})",
        )
    return src.issue(loc, f"no service '{name}' in {compose.display}: the job {what} a service of its stack "
                          f"(services: {known})")  # fmt: skip
