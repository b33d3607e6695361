"""The plan: a complete program of typed actions grouped in units. Pure data.

The planner (reconciler.planner) produces a :class:`Plan`; the executor
(reconciler.executor) runs it without the desired or observed state;
reconciler.render prints it. A plan is a sequence of :class:`Unit` values in
execution order: the parameter writes, then one unit per stack and host (the
Compose project with everything Compose needs: the override document and the
interpolation values), then the prunes. A unit names the units that must
have fully succeeded before it runs (``after``: the same stack on the
previous host, say) and the parameter writes it reads (``needs``); when one
of them did not succeed the unit is skipped, which is how a failure stays
contained to its stack and the hosts after it.

Every action (:mod:`reconciler.core.actions`) carries a :class:`Change` and a
one-line reason. Every resource that needs nothing is listed as
:class:`Unchanged` with its reason. ``preconditions`` say what the plan
assumed of the world (parameter versions, the containers of each touched
project): apply re-reads exactly these and refuses a stale plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.actions import BASE_ACTION_TYPES, Action
from reconciler.core.address import host_stack_address
from reconciler.core.instance_health import InstanceTrouble
from reconciler.core.instance_refresh import InstanceRefresh
from reconciler.core.model import Value
from reconciler.core.observed import ObservedContainer
from reconciler.core.rollout_actions import ROLLOUT_TYPES, UNHEALTHY_TYPES
from reconciler.core.rotation_actions import ROTATION_TYPES

#: 2.3: one-off jobs (run_job); 2.4: a fleet's instances replaced (mark_unhealthy; set_launch_template,
#: put_launch_hook, rotate_instance, complete_launch; instance_refresh)
PLAN_FORMAT_VERSION = "2.4"

#: rotation by AWS's instance refresh (2.4)
REFRESH_TYPES: tuple[type[Action], ...] = (InstanceRefresh,)

#: Every concrete kind of action a plan can hold: the executor has a handler for each, the JSON a serialiser.
ACTION_TYPES: tuple[type[Action], ...] = (
    *BASE_ACTION_TYPES,
    *ROLLOUT_TYPES,
    *UNHEALTHY_TYPES,
    *ROTATION_TYPES,
    *REFRESH_TYPES,
)

PARAMETERS_UNIT = "parameters"
PRUNE_UNIT = "prune"
JOB_PREFIX = "job:"  # the unit of a stack's one-off jobs: job:<host>/<stack>, before the stack's units
ROLLOUT_PREFIX = "rollout:"  # units of a fleet's rollout: rollout:<fleet>/<batch>/leave ...


# ---- units --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ComposeProject:
    """Everything Compose needs to act on one stack on one host.

    ``override`` is the override document (pinned images, ownership and
    config-hash labels, injected keys as ``${KEY}``; no secret values);
    ``environment`` the interpolation values Compose reads (secrets stay
    Sensitive; the executor hands them to Compose's process environment).
    """

    project: str
    project_dir: Path
    compose_file: Path
    override: Mapping[str, object]
    environment: Mapping[str, Value]


@dataclass(frozen=True, kw_only=True)
class Unit:
    """A step of the plan: actions run in order, after ``after`` fully succeeded and
    the parameter writes named in ``needs`` succeeded; otherwise skipped."""

    id: str  # "parameters", "stack:web-1/popcon", "prune"
    actions: tuple[Action, ...]
    host: str | None = None
    stack: str | None = None
    after: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # parameter names
    compose: ComposeProject | None = None
    requires_all: bool = False  # runs only when every earlier action succeeded (prunes)


def stack_unit_id(host: str, stack: str) -> str:
    """A stack unit is named by the address of the stack on that host."""
    return host_stack_address(host, stack)


def job_unit_id(host: str, stack: str) -> str:
    """The unit of a stack's jobs, run on ``host`` before any of the stack's units."""
    return f"{JOB_PREFIX}{host}/{stack}"


# ---- what the plan assumed ----------------------------------------------


@dataclass(frozen=True)
class ParameterVersion:
    """The plan writes or deletes ``name`` assuming SSM holds ``version`` (None: absent)."""

    name: str
    version: int | None


@dataclass(frozen=True)
class ProjectContainers:
    """The plan acts on ``project`` on ``host`` assuming exactly these containers:
    (id, service, config hash, owner), sorted. Run states are left out: a container
    that flaps between running and restarting must not make every plan stale."""

    host: str
    project: str
    containers: tuple[tuple[str, str, str, str], ...]


def containers_fingerprint(containers: Iterable[ObservedContainer]) -> tuple[tuple[str, str, str, str], ...]:
    """What :attr:`ProjectContainers.containers` holds for ``containers``: the planner writes it
    and the re-check compares it, so both use this one function."""
    return tuple(sorted((c.id, c.service, c.config_hash or "", c.owner or "") for c in containers))


Precondition = ParameterVersion | ProjectContainers


# ---- the plan -----------------------------------------------------------


@dataclass(frozen=True)
class Unchanged:
    address: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """Something that blocks applying (e.g. an image tag that does not exist,
    an external parameter that is missing, an unreachable host). A plan with
    problems exits 1; only what the problem concerns is left unplanned."""

    address: str
    message: str


@dataclass(frozen=True)
class Plan:
    environment: str
    units: tuple[Unit, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    problems: tuple[Problem, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    format_version: str = field(default=PLAN_FORMAT_VERSION)
    # fleet instances this observation found unable to be reconciled (their engine unreachable...): the
    # loop keeps the count of consecutive ticks in the status (reconciler.planner.unhealthy)
    troubles: tuple[InstanceTrouble, ...] = ()

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for unit in self.units for a in unit.actions)

    @property
    def has_changes(self) -> bool:
        return any(unit.actions for unit in self.units)

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)
