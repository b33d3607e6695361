"""executor: plans applied to the real sandbox (moto, registry, engine, Compose v2).

Plans and desired states are built by hand here (the planner has its own tests);
the point is what the executor does with them: units in order, containment of
failures (per stack, per host, per parameter), no secret on disk, repeatability
and the report. The executor gets only the plan and the drivers.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest
from drivers.worldkit import (
    PushedImage,
    clients,
    compose,
    docker_api,
    prefix,
    project,
    remove_project,
    test_image,
    uid,
)

from reconciler.core.actions import (
    Action,
    Change,
    CreateService,
    DeleteParameter,
    ExpectNetwork,
    ExpectVolume,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveService,
)
from reconciler.core.events import Event
from reconciler.core.model import (
    CONFIG_HASH_KEY,
    ENVIRONMENT_KEY,
    OWNER_KEY,
    Dependency,
    Sensitive,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
    Value,
)
from reconciler.core.plan import PARAMETERS_UNIT, PRUNE_UNIT, ComposeProject, Plan, Unit, stack_unit_id
from reconciler.drivers.aws.clients import AwsClients, CallCounter
from reconciler.drivers.aws.retrying import RateLimiter
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker.client import connect
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor import ApplyReport, Drivers, ExecuteOptions, HostDrivers, execute
from reconciler.planner.override import render_override
from reconciler.render import event_line, render_report

__all__ = ["clients", "compose", "docker_api", "prefix", "project", "test_image"]  # fixtures

pytestmark = pytest.mark.world

OWNER = "reconciler-test"
SECRET = "pw-'$ecr3t\"-" + uid()
GREETING = "hello $USER # 'quoted' \\ end"

APP_COMPOSE = """
services:
  db:
    image: placeholder
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
    volumes: ["data:/data"]
  web:
    image: placeholder
    depends_on:
      db: {condition: service_healthy}
    environment:
      MOTD: "${GREETING}"
volumes:
  data: {}
"""

SIMPLE_COMPOSE = """
services:
  one:
    image: placeholder
    stop_grace_period: 1s
"""


HOST = "default"


class Recorder:
    """Wraps subprocess.run for Compose: records the --env-file and the process environment."""

    def __init__(self) -> None:
        self.env_files: list[str] = []
        self.environments: list[dict[str, str]] = []
        self.commands: list[list[str]] = []

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(cmd))
        if "--env-file" in cmd:
            self.env_files.append(cmd[cmd.index("--env-file") + 1])
        self.environments.append(dict(kwargs.get("env") or {}))
        return subprocess.run(cmd, **kwargs)


def change(address: str) -> Change:
    return Change(address, None, {"x": 1})


def put(name: str, set_name: str, value: Value, type: str = "String") -> PutParameter:
    return PutParameter(
        change=change(f"parameter:{name}"),
        reason="not found",
        name=name,
        type=type,  # type: ignore[arg-type]
        value=value,
        set_name=set_name,
        create=True,
        adopt=False,
        tags={OWNER_KEY: OWNER, ENVIRONMENT_KEY: "test"},
    )


def service_action(
    cls: type[Any], stack: str, project: str, service: str, image: str, host: str = HOST, **kw: Any
) -> Action:
    return cls(  # type: ignore[no-any-return]
        change=change(f"service:{host}/{stack}/{service}"),
        reason="test",
        host=host,
        stack=stack,
        project=project,
        service=service,
        owner=OWNER,
        config_hash=kw.pop("config_hash", f"hash-{service}"),
        image=image,
        container_ids=kw.pop("container_ids", ()),
        wait_healthy=kw.pop("wait_healthy", False),
        wait_completed=kw.pop("wait_completed", False),
        depends_on=kw.pop("depends_on", ()),
        needs=kw.pop("needs", ()),
    )


def pull(stack: str, reference: str, registry: str, host: str = HOST) -> PullImage:
    return PullImage(
        change=change(f"image:{host}/{stack}/{reference.rsplit('@', 1)[-1][-8:]}"),
        reason="not local",
        host=host,
        stack=stack,
        reference=reference,
        registry=registry,
    )


def host_drivers(docker_api: docker.APIClient, runner: ComposeRunner) -> HostDrivers:
    return HostDrivers(engine=DockerEngine(docker_api), compose=runner)


@pytest.fixture()
def world(
    clients: AwsClients, docker_api: docker.APIClient, compose: ComposeRunner
) -> tuple[Drivers, Recorder]:
    recorder = Recorder()
    runner = ComposeRunner(compose.binary, run=recorder, docker_host=compose.env.get("DOCKER_HOST"))
    local = host_drivers(docker_api, runner)

    def hosts(name: str) -> HostDrivers:
        if name != HOST:
            # a host whose engine is not there: the real client's connection error
            connect(f"unix:///nonexistent/{name}.sock")
        return local

    drivers = Drivers(ssm=SsmWriter(clients.ssm, RateLimiter(100.0), sleep=lambda _: None), hosts=hosts)
    return drivers, recorder


@pytest.fixture()
def second_project(docker_api: docker.APIClient) -> Iterator[str]:
    name = f"t{uid()}"
    yield name
    remove_project(docker_api, name)


def stack(
    name: str, project: str, directory: Path, text: str, services: tuple[ServiceSpec, ...], **kw: Any
) -> StackSpec:
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / "docker-compose.yml"
    file.write_text(text)
    return StackSpec(
        name=name, project=project, compose_file=file, project_dir=directory, services=services, **kw
    )


def stack_unit(
    spec: StackSpec,
    actions: tuple[Action, ...],
    targets: Mapping[str, ServiceTarget],
    env: Mapping[str, Value] | None = None,
    *,
    host: str = HOST,
    after: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
    injected: Mapping[str, tuple[str, ...]] | None = None,
) -> Unit:
    """A stack unit as the planner makes it: the override and the interpolation values."""
    compose = ComposeProject(
        project=spec.project,
        project_dir=spec.project_dir,
        compose_file=spec.compose_file,
        override=render_override(spec, targets, OWNER, "test", injected or {}),
        environment=dict(env or {}),
    )
    return Unit(
        id=stack_unit_id(host, spec.name),
        host=host,
        stack=spec.name,
        actions=actions,
        after=after,
        needs=needs,
        compose=compose,
    )


def statuses(report: ApplyReport) -> list[tuple[str, str]]:
    return [(r.address, r.status) for r in report.results]


def lines(events: list[Event]) -> str:
    return "\n".join(line for e in events if (line := event_line(e)) is not None)


def assert_no_secret(report: ApplyReport, events: list[Event], *extra: str) -> None:
    text = json.dumps([r.message for r in report.results]) + lines(events) + repr(events) + "".join(extra)
    assert SECRET not in text


def assert_no_secret_on_disk(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_apply_two_stacks_one_broken(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    clients: AwsClients,
    docker_api: docker.APIClient,
    prefix: str,
    project: str,
    second_project: str,
    test_image: PushedImage,
    sandbox,  # type: ignore[no-untyped-def]
) -> None:
    drivers, recorder = world
    image = test_image.pinned("1")
    missing = f"{sandbox.registry}/{test_image.repository}@sha256:" + "0" * 64
    app = stack(
        "app",
        project,
        tmp_path / "app",
        APP_COMPOSE,
        (
            ServiceSpec("db", "{}", None, healthcheck=True),
            ServiceSpec(
                "web",
                "{}",
                None,
                variables=("GREETING",),
                environment_from=("secrets",),
                depends_on=(Dependency("db", "service_healthy"),),
            ),
        ),
        parameter_sets=("cfg",),
        networks=("default",),
        volumes=("data",),
    )
    broken = stack(
        "broken", second_project, tmp_path / "broken", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),)
    )
    greeting, password, stale = f"{prefix}/cfg/GREETING", f"{prefix}/secrets/DB_PASSWORD", f"{prefix}/cfg/OLD"
    clients.ssm.put_parameter(Name=stale, Type="String", Value="x", Tags=[{"Key": OWNER_KEY, "Value": OWNER}])
    app_targets = {"db": ServiceTarget(image, "hash-db"), "web": ServiceTarget(image, "hash-web")}
    pull_ok = pull("app", image, sandbox.registry)
    pull_missing = pull("broken", missing, sandbox.registry)
    plan = Plan(
        environment="test",
        units=(
            Unit(
                id=PARAMETERS_UNIT,
                actions=(
                    put(greeting, "cfg", GREETING),
                    put(password, "secrets", Sensitive(SECRET), "SecureString"),
                ),
            ),
            stack_unit(
                app,
                (
                    pull_ok,
                    ExpectNetwork(
                        change=change("network:default/app/default"),
                        reason="nf",
                        host=HOST,
                        stack="app",
                        project=project,
                        key="default",
                    ),
                    ExpectVolume(
                        change=change("volume:default/app/data"),
                        reason="nf",
                        host=HOST,
                        stack="app",
                        project=project,
                        key="data",
                    ),
                    service_action(CreateService, "app", project, "db", image, wait_healthy=True),
                    service_action(CreateService, "app", project, "web", image),
                ),
                app_targets,
                {"GREETING": GREETING, "DB_PASSWORD": Sensitive(SECRET)},
                needs=(greeting, password),
                injected={"web": ("DB_PASSWORD",)},
            ),
            stack_unit(
                broken,
                (pull_missing, service_action(CreateService, "broken", second_project, "one", missing)),
                {"one": ServiceTarget(missing, "hash-one")},
            ),
            Unit(
                id=PRUNE_UNIT,
                actions=(
                    DeleteParameter(
                        change=change(f"parameter:{stale}"), reason="pruned", name=stale, set_name="cfg", owner=OWNER
                    ),
                ),
                requires_all=True,
            ),
        ),
    )
    events: list[Event] = []
    state_dir = tmp_path / "state"
    aws_calls = CallCounter().attach(clients.ssm)
    options = ExecuteOptions(health_timeout=60, poll_interval=0.5)
    report = execute(plan, drivers, state_dir=state_dir, on_event=events.append, options=options)

    assert statuses(report) == [
        (f"parameter:{greeting}", "done"),
        (f"parameter:{password}", "done"),
        (pull_ok.address, "done"),
        ("network:default/app/default", "done"),
        ("volume:default/app/data", "done"),
        ("service:default/app/db", "done"),
        ("service:default/app/web", "done"),
        (pull_missing.address, "failed"),
        ("service:default/broken/one", "skipped"),
        (f"parameter:{stale}", "skipped"),
    ]
    assert not report.ok
    by_address = {r.address: r for r in report.results}
    assert by_address["service:default/app/db"].message == "created and healthy"
    assert by_address[pull_missing.address].message.startswith(f"image {missing}: ")
    assert (
        by_address["service:default/broken/one"].message
        == "not done: stack broken on host default stopped after a failure"
    )
    assert by_address[f"parameter:{stale}"].message == "not done: an earlier action did not succeed"

    # C changed parameters cost exactly C PutParameter calls (tags go with the create); no prune
    assert aws_calls.count("ssm", "PutParameter") == 2 == aws_calls.total() == aws_calls.mutating()

    # parameters written with ownership tags
    got = clients.ssm.get_parameter(Name=password, WithDecryption=True)["Parameter"]
    assert (got["Type"], got["Value"]) == ("SecureString", SECRET)
    tags = clients.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=password)["TagList"]
    assert {"Key": OWNER_KEY, "Value": OWNER} in tags
    assert clients.ssm.get_parameter(Name=stale)["Parameter"]["Value"] == "x"  # not pruned

    # Compose got the values in its process environment, never in a file: no secret on disk
    assert recorder.env_files and set(recorder.env_files) == {os.devnull}
    assert any(env.get("DB_PASSWORD") == SECRET for env in recorder.environments)
    assert_no_secret_on_disk(state_dir)
    assert sorted(p.name for p in (state_dir / HOST).iterdir()) == ["app.override.yml", "broken.override.yml"]
    override = (state_dir / HOST / "app.override.yml").read_text()
    assert "${DB_PASSWORD}" in override and image in override
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700

    # the containers run the pinned image with labels and exact values
    engine = drivers.hosts(HOST).engine
    (web,) = engine.service_containers(project, "web")
    info = engine.inspect(web["Id"])
    assert info is not None
    assert info["Config"]["Labels"][CONFIG_HASH_KEY] == "hash-web"
    assert info["Config"]["Labels"][OWNER_KEY] == OWNER
    assert info["Config"]["Image"] == image
    assert f"MOTD={GREETING}" in info["Config"]["Env"]
    assert f"DB_PASSWORD={SECRET}" in info["Config"]["Env"]
    assert engine.volume_exists(project, "data") and engine.network_exists(project, "default")
    assert engine.service_containers(second_project, "one") == []
    assert_no_secret(report, events, override)

    # safe to repeat: the same plan again changes nothing that is already right
    web_id = web["Id"]
    again = execute(plan, drivers, state_dir=state_dir, options=options)
    assert statuses(again) == statuses(report)
    again_by = {r.address: r.message for r in again.results}
    assert again_by[f"parameter:{greeting}"] == "unchanged"
    assert again_by[pull_ok.address] == "already present"
    assert [c["Id"] for c in engine.service_containers(project, "web")] == [web_id]


def test_failed_parameter_skips_only_the_stacks_that_read_it(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    clients: AwsClients,
    prefix: str,
    project: str,
    second_project: str,
    test_image: PushedImage,
    sandbox,  # type: ignore[no-untyped-def]
) -> None:
    drivers, _ = world
    image = test_image.pinned("1")
    foreign = f"{prefix}/cfg/TAKEN"
    clients.ssm.put_parameter(
        Name=foreign, Type="String", Value="theirs", Tags=[{"Key": OWNER_KEY, "Value": "other"}]
    )
    uses = stack(
        "uses",
        project,
        tmp_path / "uses",
        SIMPLE_COMPOSE,
        (ServiceSpec("one", "{}", None),),
        parameter_sets=("cfg",),
    )
    free = stack("free", second_project, tmp_path / "free", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),))
    target = {"one": ServiceTarget(image, "h1")}
    plan = Plan(
        environment="test",
        units=(
            Unit(id=PARAMETERS_UNIT, actions=(put(foreign, "cfg", "mine"),)),
            stack_unit(free, (service_action(CreateService, "free", second_project, "one", image),), target),
            stack_unit(
                uses,
                (service_action(CreateService, "uses", project, "one", image, needs=(foreign,)),),
                target,
                {"TAKEN": "mine"},
                needs=(foreign,),
            ),
        ),
    )
    report = execute(plan, drivers, state_dir=tmp_path / "state")
    assert statuses(report) == [
        (f"parameter:{foreign}", "failed"),
        ("service:default/free/one", "done"),
        ("service:default/uses/one", "skipped"),
    ]
    assert "owned by 'other'" in report.results[0].message
    assert report.results[2].message == f"skipped: parameter {foreign} failed"
    engine = drivers.hosts(HOST).engine
    assert engine.service_containers(project, "one") == []
    assert len(engine.service_containers(second_project, "one")) == 1


def test_a_host_that_fails_stops_its_stack_on_later_hosts_only(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    project: str,
    second_project: str,
    test_image: PushedImage,
) -> None:
    """Stack "web" runs on hosts gone-1 (engine unreachable) then default: default is not touched.
    Stack "free" on default goes on. The report names the host."""
    drivers, _ = world
    image = test_image.pinned("1")
    web = stack("web", project, tmp_path / "web", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),))
    free = stack("free", second_project, tmp_path / "free", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),))
    target = {"one": ServiceTarget(image, "h1")}
    first = stack_unit(
        web, (service_action(CreateService, "web", project, "one", image, host="gone-1"),), target, host="gone-1"
    )
    second = stack_unit(
        web, (service_action(CreateService, "web", project, "one", image),), target, after=(first.id,)
    )
    other = stack_unit(free, (service_action(CreateService, "free", second_project, "one", image),), target)
    events: list[Event] = []
    report = execute(
        Plan(environment="test", units=(first, second, other)),
        drivers,
        state_dir=tmp_path / "state",
        on_event=events.append,
    )
    assert statuses(report) == [
        ("service:gone-1/web/one", "failed"),
        ("service:default/web/one", "skipped"),
        ("service:default/free/one", "done"),
    ]
    assert "gone-1" in report.results[0].message and "cannot connect" in report.results[0].message
    assert report.results[1].message == "not done: host gone-1 of stack web did not complete"
    engine = drivers.hosts(HOST).engine
    assert engine.service_containers(project, "one") == []
    assert len(engine.service_containers(second_project, "one")) == 1
    assert "stack web on host default: skipped (not done: host gone-1 of stack web did not complete)" in lines(events)
    text = render_report(report)
    assert "stack web: failed on gone-1; not done on default" in text
    assert "stack free: done on default" in text


def test_recreate_and_remove(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    project: str,
    test_image: PushedImage,
) -> None:
    drivers, _ = world
    engine = drivers.hosts(HOST).engine
    one, two = test_image.pinned("1"), test_image.pinned("2")
    text = SIMPLE_COMPOSE + "  two:\n    image: placeholder\n    stop_grace_period: 1s\n"
    full = stack(
        "s", project, tmp_path / "s", text, (ServiceSpec("one", "{}", None), ServiceSpec("two", "{}", None))
    )
    targets = {"one": ServiceTarget(one, "hash-one"), "two": ServiceTarget(one, "hash-two")}
    first = Plan(
        environment="test",
        units=(
            stack_unit(
                full,
                (
                    service_action(CreateService, "s", project, "one", one),
                    service_action(CreateService, "s", project, "two", one),
                ),
                targets,
            ),
        ),
    )
    assert execute(first, drivers, state_dir=tmp_path / "st").ok
    (old_one,) = engine.service_containers(project, "one")
    (old_two,) = engine.service_containers(project, "two")

    # "two" left the compose file; "one" moves to image 2
    slim = stack("s", project, tmp_path / "s", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),))
    second = Plan(
        environment="test",
        units=(
            stack_unit(
                slim,
                (
                    pull("s", two, ""),
            service_action(
                RecreateService,
                "s",
                project,
                "one",
                two,
                config_hash="hash-one-2",
                container_ids=(old_one["Id"],),
            ),
                    service_action(RemoveService, "s", project, "two", one, container_ids=(old_two["Id"],)),
                ),
                {"one": ServiceTarget(two, "hash-one-2")},
            ),
        ),
    )
    report = execute(second, drivers, state_dir=tmp_path / "st")
    assert report.ok, report
    assert [r.message for r in report.results] == ["pulled", "recreated", "removed 1 container(s)"]
    (new_one,) = engine.service_containers(project, "one")
    assert new_one["Id"] != old_one["Id"]
    assert new_one["Labels"][CONFIG_HASH_KEY] == "hash-one-2" and new_one["Image"] == two
    assert engine.service_containers(project, "two") == []

    # repeating the same plan recreates nothing and removes nothing
    report = execute(second, drivers, state_dir=tmp_path / "st")
    assert [r.message for r in report.results] == [
        "already present",
        "already current",
        "removed 0 container(s)",
    ]
    assert [c["Id"] for c in engine.service_containers(project, "one")] == [new_one["Id"]]
    assert os.listdir(tmp_path / "st" / HOST) == ["s.override.yml"]
