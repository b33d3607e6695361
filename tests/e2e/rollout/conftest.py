"""Fixtures of the rollout tests over the sandbox's fleet: one copy of environments/prod deployed once
for the package (``shared``), each test starting from it converged (``prod``); see kit.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest
from drivers.worldkit import aws as aws_clients
from drivers.worldkit import delete_parameters

from e2e.conftest import Env, seed_terraform
from e2e.envcopy import REPO, make_copy
from e2e.rollout.fleetkit import Load, aws, clear_port, engines, fleet_copy, instances, until
from e2e.rollout.fleetscale import in_service
from e2e.rollout.kit import ALARMS, VERSIONS, Deployed, Shared, serving, set_tag
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet.layout import docker_url
from reconciler.sandbox.lifecycle import SandboxInfo


def _clear_fleet(sandbox: SandboxInfo) -> None:
    for ip in instances(sandbox).values():
        api = connect(docker_url(ip), timeout=30)
        try:
            clear_port(api)
        finally:
            api.close()


@pytest.fixture(scope="package")
def shared(sandbox: SandboxInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    if not sandbox.load_balancer:
        pytest.fail("the sandbox's fleet is not running (RECONCILER_SANDBOX_FLEET=0?)", pytrace=False)
    root = tmp_path_factory.mktemp("prod")
    clients = aws_clients(sandbox.moto_url, region="ap-northeast-2")
    copy = make_copy(REPO / "environments" / "prod", root / "prod")
    api = docker.APIClient(base_url=sandbox.docker_host)
    env = fleet_copy(Env(copy, root / "state", clients, api, seed_terraform(clients, copy.prefix)))

    def shorter(spec: Any) -> None:
        spec["rollout"]["bake"] = "3s"
        spec["rollout"]["healthCheck"].update(interval="1s", attempts=5)

    copy.edit("Environment", None, shorter)
    _clear_fleet(sandbox)
    try:
        yield Shared(env, {p: p.read_text() for p in copy.root.iterdir() if p.is_file()})
    finally:
        _clear_fleet(sandbox)
        delete_parameters(clients, copy.prefix)
        api.close()


@pytest.fixture()
def fleet(sandbox: SandboxInfo) -> Iterator[dict[str, docker.APIClient]]:
    """Instance id -> a Docker client of its engine (oldest first, as the rollout takes them)."""
    with engines(sandbox) as found:
        yield found


@pytest.fixture()
def alarms(sandbox: SandboxInfo) -> Iterator[Any]:
    """CloudWatch on moto; the fleet's alarms back to OK afterwards."""
    cw = aws(sandbox, "cloudwatch")
    yield cw
    for name in ALARMS:
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test over")


@pytest.fixture()
def prod(shared: Shared, fleet: dict[str, docker.APIClient]) -> Iterator[Deployed]:
    """The shared copy as made, converged on the version the fleet serves, every instance in service."""
    for path, text in shared.baseline.items():
        path.write_text(text)
    set_tag(shared.env.root, "frontend", shared.version)
    old, new = shared.version, next(v for v in VERSIONS if v != shared.version)
    deployed = Deployed(shared.env, old, new)
    converge = deployed.apply()
    assert converge.returncode == 0, converge.stderr + converge.stdout
    until(f"the load balancer serving {old}", lambda: serving(old), timeout=30)
    until("every instance in service", lambda: in_service() == set(fleet), timeout=30)
    try:
        yield deployed
    finally:
        now = Load()._one()
        shared.version = now[1] if now[0] == 200 and now[1] in VERSIONS else VERSIONS[0]
