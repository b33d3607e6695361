"""A fleet's new instance converged alone (what the instance refresh step does while the launch hook
holds it), through the composition root on the real sandbox: a group of moto's own (not the sandbox's
shared fleet), whose instance's engine is the sandbox's host-1 (``--fleet-docker``), a private copy of
environments/dev on the fleet. The instance is not in service, so no plan of the fleet would touch it:
converging it plans its stacks alone, applies them, and a second time finds nothing to do."""

from __future__ import annotations

import dataclasses

import docker
from fleet.mototfleet import moto_fleet

from e2e.conftest import EnvFactory
from reconciler import app
from reconciler.app.converge import converge_instance
from reconciler.core.events import Event
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE
from reconciler.sandbox import layout
from reconciler.sandbox.lifecycle import SandboxInfo


def test_a_new_instance_is_converged_alone(make_env: EnvFactory, sandbox: SandboxInfo) -> None:
    env = make_env("dev")
    host1 = sandbox.engines[1].docker_host
    with moto_fleet(sandbox.moto_url, instances=1, alarms=0) as fleet:
        env.copy.edit("Environment", None, lambda spec: spec.update(
            hosts={"web": {"fromAutoScalingGroup": fleet.group, "docker": "ssh://ec2-user@{privateIp}"}}))  # fmt: skip
        env.copy.edit("ComposeStack", None, lambda spec: spec.update(hosts=["web"]))
        (instance,) = fleet.instance_ids()
        overrides = dataclasses.replace(layout.overrides(state_dir=env.state_dir), fleet_docker=host1)
        events: list[Event] = []
        ctx = app.open_environment(env.root, overrides, read_only=False, on_event=events.append)
        try:
            first = converge_instance(ctx.world, ctx.desired, "web", instance, events.append)
            again = converge_instance(ctx.world, ctx.desired, "web", instance, events.append)
        finally:
            ctx.close()
    assert first.endswith("action(s) applied: popcon") and again == "its stacks already run"
    api = docker.APIClient(base_url=host1)
    try:
        found = api.containers(filters={"label": f"{COMPOSE_PROJECT}={env.copy.project}"})
    finally:
        api.close()
    assert sorted(str(c["Labels"][COMPOSE_SERVICE]) for c in found) == ["backend", "frontend", "mysql", "redis"]
    assert all(c["State"] == "running" for c in found)
