"""The plan: ordered, typed actions with their reasons. Pure data.

The planner (reconciler.planner) produces a :class:`Plan`; the executor
(reconciler.executor) consumes it; reconciler.render prints it. Every action
carries a :class:`Change` (before/after of the resource it touches, values
possibly :class:`~reconciler.model.Sensitive`) and a one-line reason. Every
resource that needs nothing is listed as :class:`Unchanged` with its reason.

``actions`` in the plan JSON follow Terraform: ``["create"]``, ``["update"]``,
``["delete"]``, ``["delete", "create"]`` (replace).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from reconciler.model import ParamType, Value

PLAN_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class Change:
    """Before/after of one resource. ``None`` = does not exist (before) / will not exist (after).

    Values may be Sensitive anywhere inside; renderers mask them.
    """

    address: str  # e.g. parameter:/popcon/dev/DB_HOST, service:popcon/backend
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None


@dataclass(frozen=True)
class Action:
    kind: ClassVar[str] = "action"
    verbs: ClassVar[tuple[str, ...]] = ()
    change: Change
    reason: str

    @property
    def address(self) -> str:
        return self.change.address

    @property
    def actions(self) -> tuple[str, ...]:
        raise NotImplementedError


# ---- parameters ---------------------------------------------------------


@dataclass(frozen=True)
class PutParameter(Action):
    """PutParameter; ``create`` = the name does not exist yet (tags set on create);
    ``adopt`` = it exists without our ownership tag (tags added after the put)."""

    kind: ClassVar[str] = "put_parameter"
    name: str = ""
    type: ParamType = "String"
    value: Value = ""
    set_name: str = ""
    create: bool = False
    adopt: bool = False

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",) if self.create else ("update",)


@dataclass(frozen=True)
class DeleteParameter(Action):
    """Delete an owned parameter no longer in the spec (prune)."""

    kind: ClassVar[str] = "delete_parameter"
    name: str = ""
    set_name: str = ""

    @property
    def actions(self) -> tuple[str, ...]:
        return ("delete",)


# ---- images -------------------------------------------------------------


@dataclass(frozen=True)
class PullImage(Action):
    """Pull ``reference`` (registry/repository@sha256:...) into the engine."""

    kind: ClassVar[str] = "pull_image"
    stack: str = ""
    reference: str = ""
    registry: str = ""

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",)


# ---- compose stacks -----------------------------------------------------


@dataclass(frozen=True)
class StackAction(Action):
    stack: str = ""
    project: str = ""


@dataclass(frozen=True)
class CreateNetwork(StackAction):
    """A compose network that does not exist; Compose creates it with the first
    service that uses it, the executor checks it exists afterwards."""

    kind: ClassVar[str] = "create_network"
    key: str = ""

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",)


@dataclass(frozen=True)
class CreateVolume(StackAction):
    """A compose named volume that does not exist (created by Compose, checked after)."""

    kind: ClassVar[str] = "create_volume"
    key: str = ""

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",)


@dataclass(frozen=True)
class ServiceAction(StackAction):
    service: str = ""
    config_hash: str = ""  # the hash label the container will carry
    image: str = ""  # the pinned reference it will run
    container_ids: tuple[str, ...] = ()  # containers it replaces/starts/removes
    wait_healthy: bool = False  # a later service depends on it with service_healthy
    wait_completed: bool = False  # ... with service_completed_successfully


@dataclass(frozen=True)
class CreateService(ServiceAction):
    kind: ClassVar[str] = "create_service"

    @property
    def actions(self) -> tuple[str, ...]:
        return ("create",)


@dataclass(frozen=True)
class RecreateService(ServiceAction):
    kind: ClassVar[str] = "recreate_service"

    @property
    def actions(self) -> tuple[str, ...]:
        return ("delete", "create")


@dataclass(frozen=True)
class StartService(ServiceAction):
    """The container exists with the right configuration but is not running."""

    kind: ClassVar[str] = "start_service"

    @property
    def actions(self) -> tuple[str, ...]:
        return ("update",)


@dataclass(frozen=True)
class RemoveService(ServiceAction):
    """Owned containers of a service that is no longer in the compose file."""

    kind: ClassVar[str] = "remove_service"

    @property
    def actions(self) -> tuple[str, ...]:
        return ("delete",)


# ---- the plan -----------------------------------------------------------


@dataclass(frozen=True)
class Unchanged:
    address: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """Something that blocks applying (e.g. an image tag that does not exist,
    an external parameter that is missing). A plan with problems exits 1."""

    address: str
    message: str


@dataclass(frozen=True)
class Plan:
    environment: str
    actions: tuple[Action, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    problems: tuple[Problem, ...] = ()
    format_version: str = field(default=PLAN_FORMAT_VERSION)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def for_stack(self, stack: str) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if isinstance(a, StackAction | PullImage) and a.stack == stack)
