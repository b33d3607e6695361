"""executor: plans applied to the real sandbox (moto, registry, engine, Compose v2).

Plans and desired states are built by hand here (the planner has its own tests);
the point is what the executor does with them: order, containment of failures,
the private env file, repeatability and the report.
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

from reconciler.drivers.aws import AwsClients, CallCounter, RateLimiter
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker import DockerEngine
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor import ApplyReport, Drivers, ExecuteOptions, execute
from reconciler.model import (
    CONFIG_HASH_KEY,
    OWNER_KEY,
    Dependency,
    DesiredState,
    ObservedState,
    ParameterSpec,
    Sensitive,
    ServiceSpec,
    ServiceTarget,
    StackSpec,
    Value,
)
from reconciler.plan import (
    Action,
    Change,
    CreateNetwork,
    CreateService,
    CreateVolume,
    DeleteParameter,
    Plan,
    PullImage,
    PutParameter,
    RecreateService,
    RemoveService,
)

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


class Recorder:
    """Wraps subprocess.run for Compose: records the env file's mode while Compose reads it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []  # (env file, file mode, dir mode)

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "--env-file" in cmd:
            env_file = Path(cmd[cmd.index("--env-file") + 1])
            self.seen.append(
                (
                    str(env_file),
                    stat.S_IMODE(env_file.stat().st_mode),
                    stat.S_IMODE(env_file.parent.stat().st_mode),
                )
            )
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
    )


def service_action(cls: type[Any], stack: str, project: str, service: str, image: str, **kw: Any) -> Action:
    return cls(  # type: ignore[no-any-return]
        change=change(f"service:{stack}/{service}"),
        reason="test",
        stack=stack,
        project=project,
        service=service,
        config_hash=kw.pop("config_hash", f"hash-{service}"),
        image=image,
        **kw,
    )


def pull(stack: str, reference: str, registry: str) -> PullImage:
    return PullImage(
        change=change(f"image:{reference}"),
        reason="not local",
        stack=stack,
        reference=reference,
        registry=registry,
    )


@pytest.fixture()
def world(
    clients: AwsClients, docker_api: docker.APIClient, compose: ComposeRunner
) -> tuple[Drivers, Recorder]:
    recorder = Recorder()
    runner = ComposeRunner(compose.binary, run=recorder, docker_host=compose.env.get("DOCKER_HOST"))
    drivers = Drivers(
        ssm=SsmWriter(clients.ssm, RateLimiter(100.0), sleep=lambda _: None),
        engine=DockerEngine(docker_api),
        compose=runner,
    )
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


def providers(
    targets: Mapping[str, Mapping[str, ServiceTarget]], env: Mapping[str, Mapping[str, Value]]
) -> dict[str, Any]:
    return {
        "targets": lambda s, d, o: targets[s.name],
        "environment": lambda s, d, o: env.get(s.name, {}),
    }


def statuses(report: ApplyReport) -> list[tuple[str, str]]:
    return [(r.address, r.status) for r in report.results]


def assert_no_secret(report: ApplyReport, events: list[str], *extra: str) -> None:
    text = json.dumps([r.message for r in report.results]) + "\n".join(events) + "".join(extra)
    assert SECRET not in text


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
    desired = DesiredState(
        environment="test",
        owner=OWNER,
        parameters=(
            ParameterSpec(greeting, "GREETING", "String", GREETING, "cfg"),
            ParameterSpec(password, "DB_PASSWORD", "SecureString", Sensitive(SECRET), "secrets"),
        ),
        stacks=(app, broken),
    )
    plan = Plan(
        environment="test",
        actions=(
            put(greeting, "cfg", GREETING),
            put(password, "secrets", Sensitive(SECRET), "SecureString"),
            pull("app", image, sandbox.registry),
            CreateNetwork(
                change=change("network:app/default"), reason="nf", stack="app", project=project, key="default"
            ),
            CreateVolume(
                change=change("volume:app/data"), reason="nf", stack="app", project=project, key="data"
            ),
            service_action(CreateService, "app", project, "db", image, wait_healthy=True),
            service_action(CreateService, "app", project, "web", image),
            pull("broken", missing, sandbox.registry),
            service_action(CreateService, "broken", second_project, "one", missing),
            DeleteParameter(change=change(f"parameter:{stale}"), reason="pruned", name=stale, set_name="cfg"),
        ),
    )
    targets = {
        "app": {"db": ServiceTarget(image, "hash-db"), "web": ServiceTarget(image, "hash-web")},
        "broken": {"one": ServiceTarget(missing, "hash-one")},
    }
    env = {"app": {"GREETING": GREETING, "DB_PASSWORD": Sensitive(SECRET)}}
    events: list[str] = []
    state_dir = tmp_path / "state"
    aws_calls = CallCounter().attach(clients.ssm)
    report = execute(
        plan,
        desired,
        ObservedState(),
        drivers,
        state_dir=state_dir,
        on_event=events.append,
        options=ExecuteOptions(health_timeout=60, poll_interval=0.5),
        **providers(targets, env),
    )

    assert statuses(report) == [
        (f"parameter:{greeting}", "done"),
        (f"parameter:{password}", "done"),
        (f"image:{image}", "done"),
        ("network:app/default", "done"),
        ("volume:app/data", "done"),
        ("service:app/db", "done"),
        ("service:app/web", "done"),
        (f"image:{missing}", "failed"),
        ("service:broken/one", "skipped"),
        (f"parameter:{stale}", "skipped"),
    ]
    assert not report.ok
    by_address = {r.address: r for r in report.results}
    assert by_address["service:app/db"].message == "created and healthy"
    assert by_address[f"image:{missing}"].message.startswith(f"image {missing}: ")
    assert by_address["service:broken/one"].message == "not done: stack broken stopped after a failure"
    assert by_address[f"parameter:{stale}"].message == "not pruned: an earlier action did not succeed"

    # C changed parameters cost exactly C PutParameter calls (tags go with the create); no prune
    assert aws_calls.count("ssm", "PutParameter") == 2 == aws_calls.total() == aws_calls.mutating()

    # parameters written with ownership tags
    got = clients.ssm.get_parameter(Name=password, WithDecryption=True)["Parameter"]
    assert (got["Type"], got["Value"]) == ("SecureString", SECRET)
    tags = clients.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=password)["TagList"]
    assert {"Key": OWNER_KEY, "Value": OWNER} in tags
    assert clients.ssm.get_parameter(Name=stale)["Parameter"]["Value"] == "x"  # not pruned

    # the env file was private while Compose read it, and is gone now; the override stays, without secrets
    assert recorder.seen and all(mode == 0o600 and dmode == 0o700 for _, mode, dmode in recorder.seen)
    assert {Path(f).name for f, _, _ in recorder.seen} == {"app.env"}
    assert sorted(p.name for p in state_dir.iterdir()) == ["app.override.yml", "broken.override.yml"]
    override = (state_dir / "app.override.yml").read_text()
    assert "${DB_PASSWORD}" in override and image in override

    # the containers run the pinned image with labels and exact values
    engine = drivers.engine
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
    again = execute(
        plan,
        desired,
        ObservedState(),
        drivers,
        state_dir=state_dir,
        options=ExecuteOptions(health_timeout=60, poll_interval=0.5),
        **providers(targets, env),
    )
    assert statuses(again) == statuses(report)
    again_by = {r.address: r.message for r in again.results}
    assert again_by[f"parameter:{greeting}"] == "unchanged"
    assert again_by[f"image:{image}"] == "already present"
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
    desired = DesiredState(environment="test", owner=OWNER, stacks=(uses, free))
    plan = Plan(
        environment="test",
        actions=(
            put(foreign, "cfg", "mine"),
            service_action(CreateService, "free", second_project, "one", image),
            service_action(CreateService, "uses", project, "one", image),
        ),
    )
    targets = {"uses": {"one": ServiceTarget(image, "h1")}, "free": {"one": ServiceTarget(image, "h1")}}
    report = execute(
        plan,
        desired,
        ObservedState(),
        drivers,
        state_dir=tmp_path / "state",
        **providers(targets, {"uses": {"TAKEN": "mine"}}),
    )
    assert statuses(report) == [
        (f"parameter:{foreign}", "failed"),
        ("service:free/one", "done"),
        ("service:uses/one", "skipped"),
    ]
    assert "owned by 'other'" in report.results[0].message
    assert report.results[2].message == f"skipped: parameter {foreign} failed"
    assert drivers.engine.service_containers(project, "one") == []
    assert len(drivers.engine.service_containers(second_project, "one")) == 1


def test_recreate_and_remove(
    tmp_path: Path,
    world: tuple[Drivers, Recorder],
    project: str,
    test_image: PushedImage,
) -> None:
    drivers, _ = world
    engine = drivers.engine
    one, two = test_image.pinned("1"), test_image.pinned("2")
    text = SIMPLE_COMPOSE + "  two:\n    image: placeholder\n    stop_grace_period: 1s\n"
    full = stack(
        "s", project, tmp_path / "s", text, (ServiceSpec("one", "{}", None), ServiceSpec("two", "{}", None))
    )
    desired = DesiredState(environment="test", owner=OWNER, stacks=(full,))
    first = Plan(
        environment="test",
        actions=(
            service_action(CreateService, "s", project, "one", one),
            service_action(CreateService, "s", project, "two", one),
        ),
    )
    targets = {"s": {"one": ServiceTarget(one, "hash-one"), "two": ServiceTarget(one, "hash-two")}}
    assert execute(
        first, desired, ObservedState(), drivers, state_dir=tmp_path / "st", **providers(targets, {})
    ).ok
    (old_one,) = engine.service_containers(project, "one")
    (old_two,) = engine.service_containers(project, "two")

    # "two" left the compose file; "one" moves to image 2
    slim = stack("s", project, tmp_path / "s", SIMPLE_COMPOSE, (ServiceSpec("one", "{}", None),))
    desired = DesiredState(environment="test", owner=OWNER, stacks=(slim,))
    second = Plan(
        environment="test",
        actions=(
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
    )
    targets = {"s": {"one": ServiceTarget(two, "hash-one-2")}}
    report = execute(
        second, desired, ObservedState(), drivers, state_dir=tmp_path / "st", **providers(targets, {})
    )
    assert report.ok, report
    assert [r.message for r in report.results] == ["pulled", "recreated", "removed 1 container(s)"]
    (new_one,) = engine.service_containers(project, "one")
    assert new_one["Id"] != old_one["Id"]
    assert new_one["Labels"][CONFIG_HASH_KEY] == "hash-one-2" and new_one["Image"] == two
    assert engine.service_containers(project, "two") == []

    # repeating the same plan recreates nothing and removes nothing
    report = execute(
        second, desired, ObservedState(), drivers, state_dir=tmp_path / "st", **providers(targets, {})
    )
    assert [r.message for r in report.results] == [
        "already present",
        "already current",
        "removed 0 container(s)",
    ]
    assert [c["Id"] for c in engine.service_containers(project, "one")] == [new_one["Id"]]
    assert os.listdir(tmp_path / "st") == ["s.override.yml"]
