"""What the status page shows, as plain data, and how it is made from a tick's plan and observation.
Pure.

The loop keeps, between requests, the :class:`Observation` of its last plan (per host and stack
what runs and whether it matches, and the plan's summary: :func:`observation`, computed once per
plan) and reads the status and history from its state store; a request puts them together in a
:class:`StatusView` with the live :class:`~reconciler.core.progress.Progress`.
:mod:`.document` turns a view into the JSON of ``/api/status``; :mod:`.html` renders that JSON
as the page, so the two never disagree. Nothing here holds a secret value: plan reasons and
messages are masked before they are made, and no parameter value is ever read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.core.address import host_stack_address, service_address, stack_address
from reconciler.core.model import DesiredState, is_oneoff
from reconciler.core.observed import ObservedContainer, ObservedState
from reconciler.core.plan import Plan
from reconciler.core.progress import Progress
from reconciler.render.json import counts
from reconciler.render.text import summary
from reconciler.state import EnvironmentStatus, HistoryEntry

MAX_ACTIONS = 200  # the plan's actions listed (the counts cover them all)
_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # a GitHub owner or repository name

IN_SYNC = "in-sync"
CHANGE = "change"
PROBLEM = "problem"
NOT_PLANNED = "not-planned"


@dataclass(frozen=True)
class ContainerView:
    name: str
    state: str  # running | exited | ...
    health: str | None  # healthy | unhealthy | starting | None (no healthcheck)
    image: str


@dataclass(frozen=True)
class ServiceView:
    name: str
    status: str  # IN_SYNC | CHANGE | PROBLEM | NOT_PLANNED
    detail: str  # why: the plan's reason, the problem, or why it is in sync
    containers: tuple[ContainerView, ...]


@dataclass(frozen=True)
class StackView:
    host: str
    stack: str
    project: str
    services: tuple[ServiceView, ...]
    problems: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return not self.problems and all(s.status == IN_SYNC for s in self.services)


@dataclass(frozen=True)
class PlannedAction:
    address: str
    kind: str
    reason: str


@dataclass(frozen=True)
class PlanView:
    """The last plan's summary."""

    environment: str
    planned_at: float
    summary: str
    counts: dict[str, int]
    actions: tuple[PlannedAction, ...]  # the first MAX_ACTIONS
    action_count: int
    problems: tuple[tuple[str, str], ...]  # (address, message)
    unchanged: int


@dataclass(frozen=True)
class Observation:
    """The last plan of a tick, and what it observed, as the page shows them."""

    plan: PlanView
    stacks: tuple[StackView, ...]
    revision: str = ""  # the sha planned ("" when unknown)


@dataclass(frozen=True)
class LoopView:
    """The loop process itself."""

    repository: str  # credentials masked
    branch: str
    path: str
    mode: str
    interval: float
    ticks: int
    tick_running: bool
    ready: bool
    readiness: str


@dataclass(frozen=True)
class StatusView:
    """Everything one request of the page or of ``/api/status`` shows."""

    generated_at: float
    loop: LoopView
    progress: Progress
    status: EnvironmentStatus | None = None  # None until a revision's specs loaded
    history: tuple[HistoryEntry, ...] = ()
    observation: Observation | None = None
    lease_holder: str | None = None
    store_error: str | None = None  # the state store could not be read
    repository_url: str | None = None  # https://github.com/owner/name for commit links, when on GitHub


def _container(c: ObservedContainer) -> ContainerView:
    return ContainerView(name=c.name, state=c.state, health=c.health, image=c.image)


def stacks(plan: Plan, desired: DesiredState, observed: ObservedState) -> tuple[StackView, ...]:
    """Per stack and host (a fleet's instances as hosts: ``desired`` expanded by the caller) its
    services, what runs for each and whether it matches, as ``reconciler status`` shows them."""
    by_address = {a.address: a for a in plan.actions}
    unchanged = {u.address: u.reason for u in plan.unchanged}
    problems: dict[str, list[str]] = {}
    for problem in plan.problems:
        problems.setdefault(problem.address, []).append(problem.message)
    out: list[StackView] = []
    for stack in sorted(desired.stacks, key=lambda s: s.name):
        for host in stack.hosts:
            running: dict[str, list[ObservedContainer]] = {}
            for c in observed.host(host).containers:
                if c.project == stack.project and not is_oneoff(c.labels):
                    running.setdefault(c.service, []).append(c)
            said = (*problems.get(stack_address(stack.name), ()),
                    *problems.get(host_stack_address(host, stack.name), ()))  # fmt: skip
            if observed.host(host).error:
                said = (*said, f"host {host} could not be read: {observed.host(host).error}")
            names = [s.name for s in stack.services]
            names += sorted(set(running) - set(names))
            services = []
            for name in names:
                address = service_address(host, stack.name, name)
                action = by_address.get(address)
                if address in problems:
                    status, detail = PROBLEM, "; ".join(problems[address])
                elif action is not None:
                    status, detail = CHANGE, action.reason
                elif address in unchanged:
                    status, detail = IN_SYNC, unchanged[address]
                else:
                    status, detail = NOT_PLANNED, "not planned" + (": see the stack's problems" if said else "")
                containers = tuple(_container(c) for c in sorted(running.get(name, []), key=lambda c: c.name))
                services.append(ServiceView(name, status, detail, containers))
            out.append(StackView(host, stack.name, stack.project, tuple(services), tuple(said)))
    return tuple(out)


def plan_view(plan: Plan, planned_at: float) -> PlanView:
    actions = tuple(PlannedAction(a.address, a.kind, a.reason) for a in plan.actions[:MAX_ACTIONS])
    return PlanView(environment=plan.environment, planned_at=planned_at, summary=summary(plan),
                    counts=dict(counts(plan)), actions=actions, action_count=len(plan.actions),
                    problems=tuple((p.address, p.message) for p in plan.problems),
                    unchanged=len(plan.unchanged))  # fmt: skip


def observation(
    plan: Plan, desired: DesiredState, observed: ObservedState, *, planned_at: float, revision: str = ""
) -> Observation:
    """What the page keeps of one plan (``desired`` with its fleets expanded into their instances)."""
    return Observation(plan=plan_view(plan, planned_at), stacks=stacks(plan, desired, observed), revision=revision)


def github_url(repository: str) -> str | None:
    """``https://github.com/owner/name`` for a repository on GitHub (https, ssh or scp-like form, with
    or without credentials), else None."""
    text = repository.strip()
    if text.startswith("git@github.com:"):
        path = text[len("git@github.com:") :]
    else:
        try:
            parts = urlsplit(text)
        except ValueError:
            return None
        if parts.scheme not in ("https", "http", "ssh") or (parts.hostname or "").lower() != "github.com":
            return None
        path = parts.path
    names = path.strip("/").removesuffix(".git").split("/")
    if len(names) != 2 or not all(_NAME.fullmatch(n) for n in names):
        return None
    return f"https://github.com/{names[0]}/{names[1]}"


__all__ = [
    "CHANGE", "IN_SYNC", "NOT_PLANNED", "PROBLEM", "ContainerView", "LoopView", "Observation", "PlanView",
    "PlannedAction", "ServiceView", "StackView", "StatusView", "github_url", "observation",
    "plan_view", "stacks",
]  # fmt: skip
