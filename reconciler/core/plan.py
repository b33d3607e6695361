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

Every action carries a :class:`Change` (before/after of the resource it
touches, values possibly :class:`~reconciler.core.model.Sensitive`) and a
one-line reason. Every resource that needs nothing is listed as
:class:`Unchanged` with its reason. ``preconditions`` say what the plan
assumed of the world (parameter versions, the containers of each touched
project): apply re-reads exactly these and refuses a stale plan.

``actions`` follow Terraform: ``["create"]``, ``["update"]``,
``["delete"]``, ``["delete", "create"]`` (replace).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from reconciler.core.address import host_stack_address
from reconciler.core.model import ObservedContainer, ParamType, Value

PLAN_FORMAT_VERSION = "2.1"

PARAMETERS_UNIT = "parameters"
PRUNE_UNIT = "prune"


@dataclass(frozen=True)
class Change:
    """Before/after of one resource. ``None`` = does not exist (before) / will not exist (after).

    Values may be Sensitive anywhere inside; renderers mask them.
    """

    address: str  # e.g. parameter:/popcon/dev/DB_HOST, service:web-1/popcon/backend
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ClassVar[str] = "action"
    terraform: ClassVar[tuple[str, ...]] = ()  # Terraform's verbs: ("create",), ("delete", "create") ...
    change: Change
    reason: str

    @property
    def address(self) -> str:
        return self.change.address

    @property
    def actions(self) -> tuple[str, ...]:
        return self.terraform


# ---- parameters ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PutParameter(Action):
    """PutParameter; ``create`` = the name does not exist yet; ``tags`` (ownership) are set on
    create and added after the put when adopting a parameter that lacks them."""

    kind: ClassVar[str] = "put_parameter"
    name: str
    type: ParamType
    value: Value
    set_name: str
    create: bool
    adopt: bool
    tags: Mapping[str, str]

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",) if self.create else ("update",)


@dataclass(frozen=True, kw_only=True)
class DeleteParameter(Action):
    """Delete an owned parameter no longer in the spec (prune); ownership re-checked first."""

    kind: ClassVar[str] = "delete_parameter"
    terraform: ClassVar[tuple[str, ...]] = ("delete",)
    name: str
    set_name: str
    owner: str


# ---- per stack and host -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HostAction(Action):
    host: str
    stack: str


@dataclass(frozen=True, kw_only=True)
class PullImage(HostAction):
    """Pull ``reference`` (registry/repository@sha256:...) into the host's engine."""

    kind: ClassVar[str] = "pull_image"
    terraform: ClassVar[tuple[str, ...]] = ("create",)
    reference: str
    registry: str


@dataclass(frozen=True, kw_only=True)
class StackAction(HostAction):
    project: str


@dataclass(frozen=True, kw_only=True)
class ExpectNetwork(StackAction):
    """A compose network that does not exist: Compose creates it with the first
    service that uses it; the executor checks that it exists afterwards."""

    kind: ClassVar[str] = "expect_network"
    terraform: ClassVar[tuple[str, ...]] = ("create",)
    key: str


@dataclass(frozen=True, kw_only=True)
class ExpectVolume(StackAction):
    """A compose named volume that does not exist (created by Compose, checked afterwards)."""

    kind: ClassVar[str] = "expect_volume"
    terraform: ClassVar[tuple[str, ...]] = ("create",)
    key: str


@dataclass(frozen=True, kw_only=True)
class ServiceAction(StackAction):
    service: str
    owner: str  # the owner label the containers carry (and removals require)
    config_hash: str  # the hash label the container will carry
    image: str  # the pinned reference it will run
    container_ids: tuple[str, ...]  # containers it replaces/starts/removes
    wait_healthy: bool  # a later service depends on it with service_healthy
    wait_completed: bool  # ... with service_completed_successfully
    depends_on: tuple[str, ...]  # the stack's services it depends on (apply acts on those first)
    needs: tuple[str, ...]  # parameters written by this plan that it reads (it waits for them)


@dataclass(frozen=True, kw_only=True)
class CreateService(ServiceAction):
    kind: ClassVar[str] = "create_service"
    terraform: ClassVar[tuple[str, ...]] = ("create",)


@dataclass(frozen=True, kw_only=True)
class RecreateService(ServiceAction):
    kind: ClassVar[str] = "recreate_service"
    terraform: ClassVar[tuple[str, ...]] = ("delete", "create")


@dataclass(frozen=True, kw_only=True)
class StartService(ServiceAction):
    """The container exists with the right configuration but is not running."""

    kind: ClassVar[str] = "start_service"
    terraform: ClassVar[tuple[str, ...]] = ("update",)


@dataclass(frozen=True, kw_only=True)
class RemoveService(ServiceAction):
    """Owned containers of a service that is no longer in the compose file."""

    kind: ClassVar[str] = "remove_service"
    terraform: ClassVar[tuple[str, ...]] = ("delete",)


@dataclass(frozen=True, kw_only=True)
class RemoveContainer(StackAction):
    """A container Compose left behind when a recreate was interrupted (still named
    ``<id>_<project>-<service>-<n>``): removed, owner re-checked, before the service is acted on."""

    kind: ClassVar[str] = "remove_container"
    terraform: ClassVar[tuple[str, ...]] = ("delete",)
    service: str
    container_id: str
    name: str
    owner: str


@dataclass(frozen=True, kw_only=True)
class RemoveNetwork(StackAction):
    """A second network with a project network's name (two runs created it at once): Compose
    refuses an ambiguous name, so the newer ones are removed (never one in use)."""

    kind: ClassVar[str] = "remove_network"
    terraform: ClassVar[tuple[str, ...]] = ("delete",)
    key: str
    network_id: str
    name: str


ACTION_TYPES: tuple[type[Action], ...] = (
    PutParameter,
    DeleteParameter,
    PullImage,
    ExpectNetwork,
    ExpectVolume,
    CreateService,
    RecreateService,
    StartService,
    RemoveService,
    RemoveContainer,
    RemoveNetwork,
)


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

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(a for unit in self.units for a in unit.actions)

    @property
    def has_changes(self) -> bool:
        return any(unit.actions for unit in self.units)

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)
