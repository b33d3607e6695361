"""executor: a stack's services apply in dependency levels (one Compose call and one wait per
level), on the real engine; and the pure step/level split."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import docker
import pytest
from drivers.worldkit import PushedImage, clients, compose, docker_api, prefix, project, test_image
from test_executor import HOST, Recorder, change, service_action, stack, stack_unit, statuses, world

from reconciler.core.actions import CreateService, ExpectNetwork, PullImage, RecreateService, RemoveService, RunJob
from reconciler.core.model import Dependency, ServiceSpec, ServiceTarget
from reconciler.core.plan import Plan, Unit
from reconciler.executor import Drivers, ExecuteOptions, execute
from reconciler.executor.stacks import levels, steps

__all__ = ["clients", "compose", "docker_api", "prefix", "project", "test_image", "world"]  # fixtures

LEVELS_COMPOSE = """
services:
  db:
    image: placeholder
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 5
  cache:
    image: placeholder
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 5
  web:
    image: placeholder
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
"""


def _ups(actions: list[list[object]]) -> list[list[str]]:
    return [[getattr(a, "service", getattr(a, "address", "?")) for a in step] for step in actions]


def test_levels_group_services_that_do_not_depend_on_each_other() -> None:
    def svc(name: str, *deps: str, wait: bool = False, cls: type = CreateService) -> CreateService:
        action = service_action(cls, "app", "p", name, "img", depends_on=deps, wait_healthy=wait)
        assert isinstance(action, CreateService | RecreateService)
        return action  # type: ignore[return-value]

    # a diamond plus a service whose dependency is not acted on (it runs already)
    diamond = [svc("cache", wait=True), svc("db", wait=True), svc("api", "cache", "db"), svc("web", "api", "idle"),
               svc("solo", "idle")]  # fmt: skip
    # api is waited for by nothing: web joins its Compose call (Compose starts api first)
    assert _ups(levels(diamond)) == [["cache", "db", "solo"], ["api", "web"]]
    # nothing waited for: one call for the whole chain
    assert _ups(levels([svc("a"), svc("b", "a"), svc("c", "b")])) == [["a", "b", "c"]]
    # a recreate never shares a call with a create (--force-recreate applies to the whole call)
    mixed = [svc("a"), svc("b", "a", cls=RecreateService)]
    assert _ups(levels(mixed)) == [["a"], ["b"]]


def test_steps_pull_first_then_levels_then_removals_then_checks() -> None:
    pull = PullImage(
        change=change("image:default/app/x"), reason="r", host=HOST, stack="app", reference="r@sha256:1", registry="r"
    )
    net = ExpectNetwork(
        change=change("network:default/app/default"), reason="r", host=HOST, stack="app", project="p", key="default"
    )
    db = service_action(RecreateService, "app", "p", "db", "img")
    web = service_action(CreateService, "app", "p", "web", "img", depends_on=("db",))
    gone = service_action(RemoveService, "app", "p", "old", "img")
    unit = Unit(id="stack:default/app", host=HOST, stack="app", actions=(pull, net, db, web, gone))
    assert [[a.address for a in step] for step in steps(unit)] == [
        [pull.address],
        [db.address],
        [web.address],
        [gone.address],
        [net.address],
    ]


def _job(name: str, service: str, *before: str) -> RunJob:
    return RunJob(
        change=change(f"job:app/{name}"), reason="r", host=HOST, stack="app", project="p", job=name, service=service,
        command=("./migrate.sh",), before=before, timeout=10.0, job_hash="0" * 64, image="img", owner="o",
    )  # fmt: skip


def test_a_job_runs_alone_just_before_the_level_of_the_first_service_it_precedes() -> None:
    pull = PullImage(
        change=change("image:default/app/x"), reason="r", host=HOST, stack="app", reference="r@sha256:1", registry="r"
    )
    db = service_action(CreateService, "app", "p", "db", "img")
    api = service_action(CreateService, "app", "p", "api", "img", depends_on=("db",))
    web = service_action(CreateService, "app", "p", "web", "img", depends_on=("api",))
    migrate, seed = _job("migrate", "api", "api"), _job("seed", "web", "web")
    unit = Unit(id="stack:default/app", host=HOST, stack="app", actions=(pull, migrate, seed, db, api, web))
    # without the jobs db, api and web would be one Compose call (nothing waited for): the jobs split it,
    # each after what the services it precedes depend on is up, before those services
    assert [[a.address for a in step] for step in steps(unit)] == [
        [pull.address],
        [db.address],
        [migrate.address],
        [api.address],
        [seed.address],
        [web.address],
    ]


@pytest.mark.world
def test_one_compose_call_and_one_wait_per_level(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    project: str,
    test_image: PushedImage,
    docker_api: docker.APIClient,
) -> None:
    drivers, recorder = world
    image = test_image.pinned("1")
    spec = stack(
        "app",
        project,
        tmp_path / "app",
        LEVELS_COMPOSE,
        (
            ServiceSpec("db", "{}", None),
            ServiceSpec("cache", "{}", None),
            ServiceSpec(
                "web",
                "{}",
                None,
                depends_on=(Dependency("db", "service_healthy"), Dependency("cache", "service_healthy")),
            ),
        ),
    )
    targets = {name: ServiceTarget(image, f"hash-{name}") for name in ("db", "cache", "web")}
    actions = (
        service_action(CreateService, "app", project, "cache", image, wait_healthy=True),
        service_action(CreateService, "app", project, "db", image, wait_healthy=True),
        service_action(CreateService, "app", project, "web", image, depends_on=("cache", "db")),
    )
    plan = Plan(environment="test", units=(stack_unit(spec, actions, targets),))
    report = execute(plan, drivers, state_dir=tmp_path / "state", options=ExecuteOptions(health_timeout=60))
    assert statuses(report) == [
        (f"service:{HOST}/app/cache", "done"),
        (f"service:{HOST}/app/db", "done"),
        (f"service:{HOST}/app/web", "done"),
    ], report
    ups = [cmd[cmd.index("up") + 1 :] for cmd in recorder.commands if "up" in cmd]
    assert ups == [["-d", "--no-deps", "cache", "db"], ["-d", "--no-deps", "web"]]

    def info(service: str) -> dict[str, object]:
        (container,) = docker_api.containers(
            all=True,
            filters={"label": [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]},
        )
        result: dict[str, object] = docker_api.inspect_container(container["Id"])
        return result

    def when(text: object) -> datetime:
        return datetime.fromisoformat(str(text)[:26].rstrip("Z"))

    # web was created only after both of its dependencies had passed a health check
    web_created = when(info("web")["Created"])
    for dependency in ("db", "cache"):
        log = info(dependency)["State"]["Health"]["Log"]  # type: ignore[index]
        first_pass = min(when(entry["End"]) for entry in log if entry["ExitCode"] == 0)
        assert first_pass <= web_created, dependency
