"""Fixtures for the end-to-end tests: a private copy of an environment on the real sandbox.

Each test gets its own copy of environments/dev (or prod) under a unique
parameter prefix, owner and Compose project (see envcopy), with what terraform
would have created (the external SecureStrings and a foreign parameter) put in
moto first. Everything is removed afterwards by prefix and project label.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from drivers.worldkit import aws, delete_parameters, docker_api, remove_project

from e2e.envcopy import REPO, EnvCopy, make_copy
from reconciler import app
from reconciler.app.clients import Counters
from reconciler.core.events import Event
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE
from reconciler.drivers.aws.clients import AwsClients
from reconciler.executor import ApplyReport
from reconciler.render import event_line
from reconciler.sandbox import layout
from reconciler.sandbox.lifecycle import SandboxInfo

__all__ = ["docker_api"]

EXTERNALS = ("DB_USERNAME", "DB_PASSWORD", "DB_ROOT_PASSWORD")
FOREIGN = "LEGACY_FEATURE_FLAG"


@dataclass
class Run:
    """One plan (and apply) through the composition root, with the calls it made."""

    plan: app.PlanResult
    report: ApplyReport | None
    plan_calls: Counters
    apply_calls: Counters
    events: list[Event] = field(default_factory=list)

    def lines(self) -> str:
        """The events as the terminal shows them."""
        return "\n".join(line for e in self.events if (line := event_line(e)) is not None)


@dataclass
class Env:
    copy: EnvCopy
    state_dir: Path
    clients: AwsClients
    api: docker.APIClient
    secrets: dict[str, str]  # external parameter key -> value seeded in moto

    @property
    def root(self) -> Path:
        return self.copy.root

    def name(self, key: str) -> str:
        return f"{self.copy.prefix}/{key}"

    def open(self, events: list[Event], *, read_only: bool = False) -> app.EnvironmentContext:
        overrides = layout.overrides(state_dir=self.state_dir)
        return app.open_environment(self.root, overrides, read_only=read_only, on_event=events.append)

    def reconcile(self, *, apply: bool = True) -> Run:
        """Observe, plan and (when asked and needed) apply, counting every call."""
        events: list[Event] = []
        ctx = self.open(events)
        try:
            ctx.world.counters.reset()
            result = ctx.plan()
            plan_calls = _snapshot(ctx.world.counters)
            ctx.world.counters.reset()
            report = ctx.apply(result.plan) if apply else None
            return Run(result, report, plan_calls, _snapshot(ctx.world.counters), events)
        finally:
            ctx.close()

    def containers(self) -> dict[str, dict[str, object]]:
        """service -> the container's listing entry (one container per service here)."""
        found = self.api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT}={self.copy.project}"})
        return {str(c["Labels"][COMPOSE_SERVICE]): c for c in found}

    def ids(self) -> dict[str, str]:
        return {service: str(c["Id"]) for service, c in self.containers().items()}

    def parameter(self, key: str) -> str | None:
        try:
            return str(self.clients.ssm.get_parameter(Name=self.name(key), WithDecryption=True)["Parameter"]["Value"])
        except self.clients.ssm.exceptions.ParameterNotFound:
            return None


def _snapshot(counters: Counters) -> Counters:
    copy = Counters()
    copy.aws.calls.update(counters.aws.calls)
    copy.docker.calls.update(counters.docker.calls)
    copy.registry.calls.update(counters.registry.calls)
    return copy


def seed_terraform(clients: AwsClients, prefix: str) -> dict[str, str]:
    """What terraform creates before the reconciler runs: the secrets and a foreign flag (no owner tags)."""
    values = {key: f"{key.lower()}-{secrets.token_hex(6)}" for key in EXTERNALS}
    for key, value in values.items():
        clients.ssm.put_parameter(Name=f"{prefix}/{key}", Type="SecureString", Value=value)
    clients.ssm.put_parameter(Name=f"{prefix}/{FOREIGN}", Type="String", Value="on")
    return values


EnvFactory = Callable[[str], Env]


@pytest.fixture()
def make_env(
    sandbox: SandboxInfo, docker_api: docker.APIClient, tmp_path: Path
) -> Iterator[EnvFactory]:
    made: list[Env] = []
    clients = aws(sandbox.moto_url, region="ap-northeast-2")

    def make(name: str = "dev") -> Env:
        source = REPO / name if "/" in name else REPO / "environments" / name  # "dev", or a folder of the repo
        copy = make_copy(source, tmp_path / source.name)
        env = Env(copy, tmp_path / "state", clients, docker_api, seed_terraform(clients, copy.prefix))
        made.append(env)
        return env

    yield make
    engines = [docker.APIClient(base_url=e.docker_host) for e in sandbox.engines[1:]]
    for env in made:
        for api in (docker_api, *engines):
            remove_project(api, env.copy.project)
        delete_parameters(clients, env.copy.prefix)
    for api in engines:
        api.close()
