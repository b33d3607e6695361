"""The plan's actions: one frozen dataclass per kind of change, verb+noun. Pure data.

Every action carries a :class:`Change` (before/after of the resource it
touches, values possibly :class:`~reconciler.core.model.Sensitive`), a
one-line reason and its ``kind``; ``terraform`` gives its verbs as Terraform
writes them: ``["create"]``, ``["update"]``, ``["delete"]``, ``["delete",
"create"]`` (replace). :data:`BASE_ACTION_TYPES` lists the concrete kinds here (with the rollout steps of
:mod:`reconciler.core.rollout_actions`, :data:`reconciler.core.plan.ACTION_TYPES` lists them all): the
executor has a handler for each (``reconciler.executor.HANDLERS``) and the plan's
JSON a serialiser. Units, preconditions and the plan itself are
:mod:`reconciler.core.plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from reconciler.core.model import ParamType, Value

__all__ = [
    "BASE_ACTION_TYPES",
    "Action",
    "Change",
    "CreateService",
    "DeleteParameter",
    "ExpectNetwork",
    "ExpectVolume",
    "HostAction",
    "PullImage",
    "PutParameter",
    "RecreateService",
    "RemoveContainer",
    "RemoveNetwork",
    "RemoveService",
    "RunJob",
    "ServiceAction",
    "StackAction",
    "StartService",
]


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


@dataclass(frozen=True, kw_only=True)
class RunJob(StackAction):
    """A one-off job (``spec.jobs``) run with ``docker compose run --rm --no-deps`` on this host before the
    services in ``before`` change: ``service``'s image and configuration, ``command``, at most ``timeout``
    seconds (then killed and its container removed). ``job_hash`` names the configuration it runs for; its
    success is recorded under it in the state store, so it does not run again for the same one."""

    kind: ClassVar[str] = "run_job"
    terraform: ClassVar[tuple[str, ...]] = ("create",)
    job: str
    service: str
    command: tuple[str, ...]
    before: tuple[str, ...]
    timeout: float
    job_hash: str
    image: str  # the pinned reference it runs
    owner: str  # the owner label its container carries
    needs: tuple[str, ...] = ()  # parameters written by this plan that its service reads (it waits for them)


BASE_ACTION_TYPES: tuple[type[Action], ...] = (
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
    RunJob,
)
