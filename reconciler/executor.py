"""Apply a Plan with the drivers: parameters, then each stack, then prunes. Does I/O (through drivers).

Order: every PutParameter; then stack by stack (in plan order) its pulls and
service actions, with CreateNetwork/CreateVolume checked as postconditions
(Compose creates them with the first service that uses them); DeleteParameter
last, and only when nothing failed. A failure is contained: a failed
PutParameter skips the stacks that read its set; a failed action stops its
stack (the rest of the stack is reported "not done") and the other stacks go
on. Every action is safe to repeat (create-collisions converge, pulls of
present images and removals of gone containers are no-ops, a recreate already
done is not redone). Per stack the override (no secrets, kept) and the env
file (0600, written atomically in the 0700 state dir, removed in ``finally``)
are written before Compose runs. Report messages never contain secret values.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from ruamel.yaml import YAML

from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker import DockerEngine
from reconciler.drivers.registry import RegistryAuth
from reconciler.drivers.ssm import SsmWriter
from reconciler.errors import ReconcilerError
from reconciler.model import (
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    DesiredState,
    ObservedState,
    Sensitive,
    ServiceTarget,
    StackSpec,
    Value,
)
from reconciler.override import render_dotenv, render_override
from reconciler.plan import (
    Action,
    CreateNetwork,
    CreateService,
    CreateVolume,
    DeleteParameter,
    Plan,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveService,
    ServiceAction,
    StackAction,
    StartService,
)
from reconciler.report import ActionResult, ApplyReport, Status
from reconciler.secrets import redact

TargetsProvider = Callable[[StackSpec, DesiredState, ObservedState], Mapping[str, ServiceTarget]]
EnvironmentProvider = Callable[[StackSpec, DesiredState, ObservedState], Mapping[str, Value]]
EventSink = Callable[[str], None]


def _no_auth(registry: str) -> RegistryAuth | None:
    return None


@dataclass(frozen=True)
class Drivers:
    ssm: SsmWriter
    engine: DockerEngine
    compose: ComposeRunner
    registry_auth: Callable[[str], RegistryAuth | None] = _no_auth  # registry host -> pull credentials


@dataclass(frozen=True)
class ExecuteOptions:
    health_timeout: float = 120.0  # seconds to wait for service_healthy / completed dependencies
    poll_interval: float = 1.0


def _default_targets(
    stack: StackSpec, desired: DesiredState, observed: ObservedState
) -> Mapping[str, ServiceTarget]:
    from reconciler.planner import service_targets

    return service_targets(stack, desired, observed)


def _default_environment(
    stack: StackSpec, desired: DesiredState, observed: ObservedState
) -> Mapping[str, Value]:
    from reconciler.planner import stack_environment

    return stack_environment(stack, desired, observed)


def execute(
    plan: Plan,
    desired: DesiredState,
    observed: ObservedState,
    drivers: Drivers,
    *,
    state_dir: Path,
    targets: TargetsProvider | None = None,
    environment: EnvironmentProvider | None = None,
    options: ExecuteOptions | None = None,
    on_event: EventSink | None = None,
) -> ApplyReport:
    """Apply ``plan`` (made from ``desired`` and ``observed``) and report every action's outcome."""
    run = _Run(
        plan=plan,
        desired=desired,
        observed=observed,
        drivers=drivers,
        state_dir=state_dir,
        targets=targets or _default_targets,
        environment=environment or _default_environment,
        options=options or ExecuteOptions(),
        emit=on_event or (lambda _: None),
        secrets=_secrets(desired, observed),
    )
    return run.execute()


def _secrets(desired: DesiredState, observed: ObservedState) -> frozenset[str]:
    values: list[Value | None] = [p.value for p in desired.parameters]
    values += [p.value for p in observed.parameters.values()]
    return frozenset(v.reveal() for v in values if isinstance(v, Sensitive) and v.reveal())


def stack_sets(stack: StackSpec) -> frozenset[str]:
    """Parameter sets a stack reads (its .env sets and every environmentFrom set)."""
    return frozenset(stack.parameter_sets) | {s for svc in stack.services for s in svc.environment_from}


class _StackStopped(Exception):
    """Internal: an action of the stack failed; the rest is not done."""


@dataclass
class _Run:
    plan: Plan
    desired: DesiredState
    observed: ObservedState
    drivers: Drivers
    state_dir: Path
    targets: TargetsProvider
    environment: EnvironmentProvider
    options: ExecuteOptions
    emit: EventSink
    secrets: frozenset[str]
    results: dict[int, ActionResult] = field(default_factory=dict)

    # ---- bookkeeping ---------------------------------------------------------

    def _mask(self, text: str) -> str:
        return redact(text, self.secrets)

    def _record(self, index: int, status: Status, message: str = "") -> None:
        action = self.plan.actions[index]
        message = self._mask(message)
        self.results[index] = ActionResult(action.address, action.kind, status, message)
        self.emit(f"{action.address}: {status}" + (f" ({message})" if message else ""))

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, ReconcilerError):
            return str(exc)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    # ---- the whole plan ------------------------------------------------------

    def execute(self) -> ApplyReport:
        actions = list(enumerate(self.plan.actions))
        failed_sets: dict[str, str] = {}  # set name -> failed parameter name
        for i, action in actions:
            if isinstance(action, PutParameter) and not self._put(i, action):
                failed_sets.setdefault(action.set_name, action.name)
        stacks: dict[str, list[int]] = {}
        for i, action in actions:
            if isinstance(action, StackAction | PullImage):
                stacks.setdefault(action.stack, []).append(i)
        for name, indexes in stacks.items():
            self._stack(name, indexes, failed_sets)
        for i, action in actions:
            if isinstance(action, DeleteParameter):
                if any(r.status != "done" for r in self.results.values()):
                    self._record(i, "skipped", "not pruned: an earlier action did not succeed")
                else:
                    self._delete(i, action)
        for i, action in actions:
            if i not in self.results:
                self._record(i, "failed", f"the executor cannot apply a {action.kind} action")
        return ApplyReport(tuple(self.results[i] for i in sorted(self.results)))

    # ---- parameters ----------------------------------------------------------

    def _put(self, index: int, action: PutParameter) -> bool:
        tags = None
        if action.create or action.adopt:
            tags = {OWNER_KEY: self.desired.owner, ENVIRONMENT_KEY: self.desired.environment}
        self.emit(f"{action.address}: {'creating' if action.create else 'updating'}")
        try:
            outcome = self.drivers.ssm.put(
                action.name, action.type, action.value, overwrite=not action.create, tags=tags
            )
        except Exception as exc:
            self._record(index, "failed", self._failure(exc))
            return False
        self._record(index, "done", outcome)
        return True

    def _delete(self, index: int, action: DeleteParameter) -> None:
        self.emit(f"{action.address}: deleting")
        try:
            outcome = self.drivers.ssm.delete(action.name, expected_owner=self.desired.owner)
        except Exception as exc:
            self._record(index, "failed", self._failure(exc))
            return
        self._record(index, "done", "already absent" if outcome == "absent" else "deleted")

    # ---- stacks --------------------------------------------------------------

    def _spec(self, name: str) -> StackSpec | None:
        return next((s for s in self.desired.stacks if s.name == name), None)

    def _stack(self, name: str, indexes: list[int], failed_sets: Mapping[str, str]) -> None:
        spec = self._spec(name)
        if spec is not None:
            broken = sorted(failed_sets[s] for s in stack_sets(spec) if s in failed_sets)
            if broken:
                for i in indexes:
                    self._record(i, "skipped", f"skipped: parameter {', '.join(broken)} failed")
                return
        self.emit(f"stack {name}: applying {len(indexes)} action(s)")
        deferred = [i for i in indexes if isinstance(self.plan.actions[i], CreateNetwork | CreateVolume)]
        ordered = [i for i in indexes if i not in deferred] + deferred
        compose_needed = any(
            isinstance(self.plan.actions[i], CreateService | RecreateService | StartService) for i in indexes
        )
        env_path = self.state_dir / f"{name}.env"
        override_path = self.state_dir / f"{name}.override.yml"
        done: set[int] = set()
        try:
            if compose_needed:
                if spec is None:
                    raise _StackStopped(indexes[0], f"stack {name} is not in the desired state")
                self._prepare(spec, indexes, env_path, override_path, ordered[0])
            for i in ordered:
                self._stack_action(i, spec, env_path, override_path)
                done.add(i)
        except _StackStopped as stop:
            failed_index, message = stop.args
            self._record(failed_index, "failed", message)
            for i in ordered:
                if i not in done and i != failed_index:
                    self._record(i, "skipped", f"not done: stack {name} stopped after a failure")
        finally:
            with contextlib.suppress(FileNotFoundError):
                env_path.unlink()

    def _prepare(
        self, spec: StackSpec, indexes: Sequence[int], env_path: Path, override_path: Path, first: int
    ) -> None:
        try:
            targets = dict(self.targets(spec, self.desired, self.observed))
            for i in indexes:
                action = self.plan.actions[i]
                if isinstance(action, ServiceAction) and not isinstance(action, RemoveService):
                    old = targets.get(action.service)
                    targets[action.service] = ServiceTarget(
                        image=action.image or (old.image if old else ""),
                        config_hash=action.config_hash or (old.config_hash if old else ""),
                    )
            keys = {
                svc.name: tuple(p.key for s in svc.environment_from for p in self.desired.set_parameters(s))
                for svc in spec.services
            }
            override = render_override(spec, targets, self.desired.owner, self.desired.environment, keys)
            env = self.environment(spec, self.desired, self.observed)
            self.secrets = self.secrets | {v.reveal() for v in env.values() if isinstance(v, Sensitive)}
            ensure_private_dir(self.state_dir)
            write_private(override_path, _yaml(override), mode=0o600)
            write_private(env_path, render_dotenv(env), mode=0o600)
        except Exception as exc:
            raise _StackStopped(first, f"cannot prepare the stack files: {self._failure(exc)}") from None

    def _stack_action(self, index: int, spec: StackSpec | None, env_path: Path, override_path: Path) -> None:
        action = self.plan.actions[index]
        try:
            message = self._run_stack_action(action, spec, env_path, override_path)
        except Exception as exc:
            raise _StackStopped(index, self._failure(exc)) from None
        self._record(index, "done", message)

    def _run_stack_action(
        self, action: Action, spec: StackSpec | None, env_path: Path, override_path: Path
    ) -> str:
        engine = self.drivers.engine
        if isinstance(action, PullImage):
            self.emit(f"{action.address}: pulling {action.reference}")
            pulled = engine.pull(action.reference, self.drivers.registry_auth(action.registry))
            return "pulled" if pulled else "already present"
        if isinstance(action, CreateNetwork):
            if not engine.network_exists(action.project, action.key):
                raise ReconcilerError(f"network {action.key} of project {action.project} was not created")
            return "created by Compose"
        if isinstance(action, CreateVolume):
            if not engine.volume_exists(action.project, action.key):
                raise ReconcilerError(f"volume {action.key} of project {action.project} was not created")
            return "created by Compose"
        if isinstance(action, RemoveService):
            ids = action.container_ids or tuple(
                str(c["Id"])
                for c in engine.service_containers(action.project, action.service)
                if (c.get("Labels") or {}).get(OWNER_KEY) == self.desired.owner
            )
            removed = engine.remove_containers(ids, expected_owner=self.desired.owner)
            return f"removed {removed} container(s)"
        if isinstance(action, CreateService | RecreateService | StartService):
            assert spec is not None
            return self._compose_up(action, spec, env_path, override_path)
        raise ReconcilerError(f"the executor cannot apply a {action.kind} action")

    def _compose_up(self, action: ServiceAction, spec: StackSpec, env_path: Path, override_path: Path) -> str:
        engine, opts = self.drivers.engine, self.options
        recreate = isinstance(action, RecreateService)
        note = ""
        if recreate and self._already_current(action):
            note = "already current"
        else:
            verb = {CreateService: "creating", RecreateService: "recreating", StartService: "starting"}
            self.emit(f"{action.address}: {verb.get(type(action), 'updating')} with docker compose")
            self.drivers.compose.up(
                spec.project,
                spec.project_dir,
                [spec.compose_file, override_path],
                env_path,
                action.service,
                force_recreate=recreate,
                secrets=self.secrets,
            )
        waits = (
            (action.wait_healthy, "healthy", engine.wait_healthy),
            (action.wait_completed, "completed", engine.wait_completed),
        )
        for wanted, what, wait in waits:
            if wanted:
                self.emit(f"{action.address}: waiting until {what} (up to {opts.health_timeout:g}s)")
                wait(
                    spec.project,
                    action.service,
                    timeout=opts.health_timeout,
                    interval=opts.poll_interval,
                    secrets=self.secrets,
                )
        done = note or {CreateService: "created", RecreateService: "recreated"}.get(type(action), "started")
        if action.wait_healthy:
            return done + " and healthy"
        return done + " and completed" if action.wait_completed else done

    def _already_current(self, action: ServiceAction) -> bool:
        """A repeated recreate: every container already runs with the target hash and owner."""
        if not action.config_hash:
            return False
        containers = self.drivers.engine.service_containers(action.project, action.service)
        return bool(containers) and all(
            (c.get("Labels") or {}).get(CONFIG_HASH_KEY) == action.config_hash
            and (c.get("Labels") or {}).get(OWNER_KEY) == self.desired.owner
            and c.get("State") == "running"
            and c.get("Id") not in action.container_ids
            for c in containers
        )


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (0700) or tighten it to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write atomically: a new file created with ``mode`` (never wider), then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _yaml(document: Mapping[str, object]) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    out = StringIO()
    out.write("# Written by the reconciler for every apply; no secrets (values come from the .env).\n")
    yaml.dump(_plain(document), out)
    return out.getvalue()


def _plain(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


__all__ = [
    "ActionResult",
    "ApplyReport",
    "Drivers",
    "ExecuteOptions",
    "execute",
    "stack_sets",
]
