"""End to end on several real engines: examples/static-hosts (prod on hosts web-1 and web-2).

The sandbox's engines stand in for the two EC2 instances (``--sandbox`` maps
web-1 to host-0, web-2 to host-1). Each test reconciles its own copy of
examples/static-hosts and checks every engine itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from drivers.worldkit import remove_project

from e2e.conftest import Env, EnvFactory
from e2e.envcopy import write_documents
from reconciler.core.actions import PullImage, RecreateService, ServiceAction, StartService
from reconciler.core.events import ActionFinished, UnitStarted
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, OWNER_KEY
from reconciler.core.plan import Plan
from reconciler.render import render_report
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world

SERVICES = {"mysql", "redis", "backend", "frontend"}
HOSTS = ("web-1", "web-2")


@pytest.fixture()
def engines(sandbox: SandboxInfo) -> Iterator[dict[str, docker.APIClient]]:
    """web-1, web-2 -> a client of the sandbox engine that stands in for it."""
    assert len(sandbox.engines) >= 2, "the sandbox runs at least two engines"
    clients = {h: docker.APIClient(base_url=e.docker_host) for h, e in zip(HOSTS, sandbox.engines, strict=False)}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture()
def prod(make_env: EnvFactory, engines: dict[str, docker.APIClient], monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("POPCON_PROD_DB_PASSWORD", "pr0d-" + os.urandom(4).hex())
    env = make_env("examples/static-hosts")
    yield env  # make_env removes the project on every engine


def on(api: docker.APIClient, env: Env) -> dict[str, dict[str, object]]:
    """service -> container listing entry, on one engine."""
    found = api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT}={env.copy.project}"})
    return {str(c["Labels"][COMPOSE_SERVICE]): c for c in found}


def ids(engines: dict[str, docker.APIClient], env: Env) -> dict[str, dict[str, str]]:
    return {host: {s: str(c["Id"]) for s, c in on(api, env).items()} for host, api in engines.items()}


def page(container: dict[str, object]) -> str:
    ports = container["Ports"]
    assert isinstance(ports, list)
    public = next(p["PublicPort"] for p in ports if p.get("PublicPort"))
    with urllib.request.urlopen(f"http://127.0.0.1:{public}/", timeout=10) as resp:
        return str(resp.read().decode())


def converged(env: Env) -> None:
    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)


def test_prod_from_nothing_on_two_hosts_then_nothing_to_do(prod: Env, engines: dict[str, docker.APIClient]) -> None:
    run = prod.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    for host, api in engines.items():
        containers = on(api, prod)
        assert set(containers) == SERVICES, host
        assert all(c["State"] == "running" and c["Labels"][OWNER_KEY] == prod.copy.owner for c in containers.values())
        text = page(containers["frontend"])
        assert "popcon-frontend 1.4.0" in text and "http://backend:8080: ok" in text
    addresses = {a.address for a in run.plan.plan.actions}
    assert {f"service:{h}/popcon/{s}" for h in HOSTS for s in SERVICES} <= addresses
    # web-1 finished before web-2 started
    units = [e.unit for e in run.events if isinstance(e, UnitStarted) and e.host]
    assert units == ["stack:web-1/popcon", "stack:web-2/popcon"]

    again = prod.reconcile(apply=False)
    assert not again.plan.plan.has_changes, [a.address for a in again.plan.plan.actions]
    assert again.plan_calls.docker.count("POST") == 0


def test_a_tag_bump_recreates_that_service_on_both_hosts_one_after_the_other(
    prod: Env, engines: dict[str, docker.APIClient]
) -> None:
    converged(prod)
    before = ids(engines, prod)
    prod.copy.edit("Images", None, lambda spec: spec["images"]["backend"].__setitem__("tag", "2.2.0"))
    run = prod.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    recreated = [a.address for a in run.plan.plan.actions if isinstance(a, RecreateService)]
    assert recreated == ["service:web-1/popcon/backend", "service:web-2/popcon/backend"]
    assert {a.kind for a in run.plan.plan.actions} <= {PullImage.kind, RecreateService.kind}
    done = [e.address for e in run.events if isinstance(e, ActionFinished) and e.address in recreated]
    assert done == recreated
    after = ids(engines, prod)
    for host in HOSTS:
        assert after[host]["backend"] != before[host]["backend"]
        assert {s: i for s, i in after[host].items() if s != "backend"} == {
            s: i for s, i in before[host].items() if s != "backend"
        }


def test_drift_on_one_host_is_healed_on_that_host_only(prod: Env, engines: dict[str, docker.APIClient]) -> None:
    converged(prod)
    engines["web-2"].stop(on(engines["web-2"], prod)["redis"]["Id"], timeout=1)
    before = ids(engines, prod)
    run = prod.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    assert [(a.kind, a.address) for a in run.plan.plan.actions] == [(StartService.kind, "service:web-2/popcon/redis")]
    assert ids(engines, prod) == before
    assert on(engines["web-2"], prod)["redis"]["State"] == "running"


def _refusing_socket(path: Path) -> str:
    """A unix socket nobody listens on: what a stopped dockerd leaves behind."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return f"unix://{path}"


def test_a_stopped_engine_stops_its_stack_there_and_after_while_another_stack_converges(
    prod: Env, engines: dict[str, docker.APIClient], tmp_path: Path
) -> None:
    from e2e.test_cli import run as cli

    # a second stack, "edge", runs on web-2 only; popcon rolls out web-1 then web-2
    (prod.root / "edge-compose.yml").write_text(
        "services:\n  edge:\n    image: popcon/frontend:latest\n    ports: ['127.0.0.1::3000']\n"
    )
    write_documents(
        prod.root / "edge.yaml",
        [
            {
                "apiVersion": "reconciler.dev/v1alpha1",
                "kind": "ComposeStack",
                "metadata": {"name": "edge"},
                "spec": {
                    "composeFile": "edge-compose.yml",
                    "project": prod.copy.project + "-edge",
                    "hosts": ["web-2"],
                    "services": {"edge": {"image": "frontend"}},
                },
            }
        ],
    )
    stopped = _refusing_socket(tmp_path / "stopped.sock")
    result = cli(prod, "apply", "--auto-approve", "--docker-host", f"web-1={stopped}")
    try:
        assert result.returncode == 1, result.stdout + result.stderr
        out = result.stdout + result.stderr
        assert "Traceback" not in out
        assert "stack:web-1/popcon" in out and "host web-1" in out and stopped.removeprefix("unix://") in out
        assert "stack:web-2/popcon" in out  # not planned: web-1 comes first
        assert on(engines["web-2"], prod) == {}  # popcon untouched on the later host
        edge = engines["web-2"].containers(filters={"label": f"{COMPOSE_PROJECT}={prod.copy.project}-edge"})
        assert len(edge) == 1 and edge[0]["State"] == "running"
        assert "Apply complete" in result.stdout
    finally:
        remove_project(engines["web-2"], prod.copy.project + "-edge")


# ---- read-only by construction ------------------------------------------------


def _snapshot(prod: Env, engines: dict[str, docker.APIClient], sandbox: SandboxInfo) -> dict[str, object]:
    """What the servers themselves hold: moto's parameters (values, versions, tags), every
    engine's containers, networks, volumes and images, the registry's tags."""
    ssm = prod.clients.ssm
    params: dict[str, object] = {}
    for page_ in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=f"/e2e-{prod.copy.uid}", Recursive=True, WithDecryption=True
    ):
        for p in page_["Parameters"]:
            tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p["Name"])["TagList"]
            params[p["Name"]] = (p["Value"], p["Version"], sorted((t["Key"], t["Value"]) for t in tags))
    world: dict[str, object] = {"parameters": params}
    mine = {"label": f"{COMPOSE_PROJECT}={prod.copy.project}"}  # other tests may share the engines
    for host, api in engines.items():
        world[host] = (
            sorted((c["Id"], c["State"], sorted(c["Labels"].items())) for c in api.containers(all=True, filters=mine)),
            sorted(n["Id"] for n in api.networks(filters=mine)),
            sorted(v["Name"] for v in api.volumes(filters=mine).get("Volumes") or []),
            sorted(d for i in api.images() for d in i.get("RepoDigests") or [] if "popcon/" in d),
        )
    tags = {}
    for repo in ("popcon/frontend", "popcon/backend", "popcon/mysql", "popcon/redis"):
        with urllib.request.urlopen(f"http://{sandbox.registry}/v2/{repo}/tags/list", timeout=10) as resp:
            tags[repo] = resp.read().decode()
    world["registry"] = tags
    return world


def _needs_every_kind_of_action(prod: Env, engines: dict[str, docker.APIClient]) -> None:
    """A converged prod on web-1 only with an extra service, then edits so that the next plan
    writes, creates, adopts and prunes parameters, pulls, creates, recreates, starts and removes
    services, and needs networks and volumes (web-2 joins)."""
    def web_1_only_with_worker(spec: dict[str, object]) -> None:
        spec["hosts"] = ["web-1"]
        services = spec["services"]
        assert isinstance(services, dict)
        services["worker"] = {"image": "frontend"}

    prod.copy.edit("ComposeStack", "popcon", web_1_only_with_worker)
    worker = {"image": "popcon/frontend:latest", "command": ["sleep", "600"]}
    prod.copy.edit_compose(lambda data: data["services"].__setitem__("worker", worker))
    converged(prod)
    def both_hosts_without_worker(spec: dict[str, object]) -> None:
        spec["hosts"] = ["web-1", "web-2"]
        services = spec["services"]
        assert isinstance(services, dict)
        services.pop("worker")

    prod.copy.edit("ComposeStack", "popcon", both_hosts_without_worker)
    prod.copy.edit_compose(lambda data: data["services"].pop("worker"))
    prod.copy.edit("Images", None, lambda spec: spec["images"]["backend"].__setitem__("tag", "2.2.0"))

    def params(spec: dict[str, object]) -> None:
        values = spec["parameters"]
        assert isinstance(values, dict)
        if "DB_NAME" in values:
            values["DB_NAME"] = "popcon_v2"
            values["NEW_FLAG"] = "on"

    prod.copy.edit("ParameterSet", None, params)
    ssm = prod.clients.ssm
    owned = [{"Key": OWNER_KEY, "Value": prod.copy.owner}]
    ssm.put_parameter(Name=prod.name("RETIRED"), Type="String", Value="x", Tags=owned)
    engines["web-1"].stop(on(engines["web-1"], prod)["redis"]["Id"], timeout=1)
    for image in engines["web-2"].images():
        if any("popcon/backend" in d for d in image.get("RepoDigests") or []):
            # in use by another project's container: the pull is then not needed
            with contextlib.suppress(docker.errors.APIError):
                engines["web-2"].remove_image(image["Id"])


def test_plan_and_status_leave_every_server_unchanged(
    prod: Env, engines: dict[str, docker.APIClient], sandbox: SandboxInfo
) -> None:
    from e2e.test_cli import run as cli

    _needs_every_kind_of_action(prod, engines)
    preview = prod.reconcile(apply=False).plan.plan
    kinds = {a.kind for a in preview.actions}
    expected = {
        "put_parameter",
        "delete_parameter",
        "expect_network",
        "expect_volume",
        "create_service",
        "recreate_service",
        "start_service",
        "remove_service",
    }
    assert expected <= kinds, kinds
    before = _snapshot(prod, engines, sandbox)
    for fmt in ("text", "json", "markdown"):
        result = cli(prod, "plan", "--format", fmt, "--detailed-exitcode")
        assert result.returncode == 2, result.stderr
    assert cli(prod, "status").returncode == 0
    assert _snapshot(prod, engines, sandbox) == before


def test_the_executor_through_read_only_clients_is_refused_every_write(
    prod: Env, engines: dict[str, docker.APIClient], sandbox: SandboxInfo
) -> None:
    _needs_every_kind_of_action(prod, engines)
    before = _snapshot(prod, engines, sandbox)
    ctx = prod.open([], read_only=True)
    refused: set[str] = set()
    try:
        the_plan = ctx.plan().plan
        assert the_plan.has_changes
        # every write on its own (a unit of one action, waiting for nothing), so each is attempted;
        # ExpectNetwork/ExpectVolume only read (they check what Compose made)
        for unit in the_plan.units:
            for action in unit.actions:
                if action.kind in ("expect_network", "expect_volume"):
                    continue
                free = dataclasses.replace(action, needs=()) if isinstance(action, ServiceAction) else action
                alone = dataclasses.replace(unit, actions=(free,), after=(), needs=(), requires_all=False)
                report = ctx.apply(Plan(environment=the_plan.environment, units=(alone,)))
                (result,) = report.results
                assert result.status == "failed", (result.address, result.message)
                assert "refused: this client may only read" in result.message, result.message
                refused.add(result.kind)
    finally:
        ctx.close()
    writes = {"put_parameter", "delete_parameter", "create_service", "recreate_service", "start_service"}
    assert writes | {"remove_service"} <= refused, refused
    assert _snapshot(prod, engines, sandbox) == before
