"""End to end on the sandbox: environments/dev reconciled on moto, the registry and the real engine.

Every test starts from nothing (its own copy of environments/dev), applies it
through the composition root (the same path as `reconciler apply`) and checks
the world itself: containers by label, parameters in moto, the app over HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import time
import urllib.request

import docker
import pytest

from e2e.conftest import FOREIGN, Env, EnvFactory
from reconciler.core.actions import (
    CreateService,
    DeleteParameter,
    PutParameter,
    RecreateService,
    RunJob,
    StartService,
)
from reconciler.core.model import OWNER_KEY
from reconciler.core.plan import Plan
from reconciler.render import render_json, render_markdown, render_report, render_text
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world

SERVICES = {"mysql", "redis", "backend", "frontend"}


def converged(make_env: EnvFactory) -> Env:
    env = make_env("dev")
    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report) if run.report else ""
    return env


def frontend_page(env: Env) -> str:
    ports = env.containers()["frontend"]["Ports"]
    assert isinstance(ports, list)
    public = next(p["PublicPort"] for p in ports if p.get("PublicPort"))
    # Docker's port proxy accepts before the container's server listens: a reset right after a
    # start is retried (bounded), any other error or a reset after 10 s fails the test
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{public}/", timeout=10) as resp:
                return str(resp.read().decode())
        except (ConnectionResetError, http.client.RemoteDisconnected):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def kinds(plan: Plan) -> dict[str, str]:
    """address -> action kind."""
    return {a.address: a.kind for a in plan.actions}


def test_apply_from_nothing_then_a_second_apply_changes_nothing(make_env: EnvFactory) -> None:
    env = make_env("dev")
    first = env.reconcile()
    assert first.report is not None and first.report.ok, render_report(first.report)

    containers = env.containers()
    assert set(containers) == SERVICES
    assert all(c["State"] == "running" for c in containers.values())
    assert "(healthy)" in str(containers["mysql"]["Status"]) and "(healthy)" in str(containers["redis"]["Status"])
    assert all(c["Labels"][OWNER_KEY] == env.copy.owner for c in containers.values())
    page = frontend_page(env)
    assert "popcon-frontend 1.5.0" in page
    assert "http://backend:8080: ok" in page  # the frontend reaches the backend on the compose network
    # the migrate job ran once, before the backend, with its configuration; the user name is a secret: masked
    job = first.report.result("job:popcon/migrate")
    assert job is not None and job.status == "done", render_report(first.report)
    assert "migrating popcon on mysql:3306 as (sensitive)" in job.message and "database answers" in job.message
    assert env.secrets["DB_USERNAME"] not in job.message

    ids = env.ids()
    second = env.reconcile()
    assert not second.plan.plan.actions and not second.plan.plan.problems
    assert second.report is not None and second.report.results == ()
    # zero mutating AWS calls; no Docker writes; same containers
    assert second.plan_calls.aws.mutating() == 0 and second.apply_calls.aws.mutating() == 0
    assert second.apply_calls.aws.total() == 0 and second.apply_calls.docker.total() == 0
    docker_writes = sum(n for (method, _), n in second.plan_calls.docker.calls.items() if method != "GET")
    assert docker_writes == 0
    assert env.ids() == ids
    # the floor: one GetParametersByPath page per 10 parameters, no per-parameter calls
    observed = len(second.plan.observed.parameters)
    assert second.plan_calls.aws.count("ssm", "GetParametersByPath") == math.ceil(observed / 10)
    assert second.plan_calls.aws.count("ssm", "ListTagsForResource") == 0
    # the foreign LEGACY_FEATURE_FLAG under the prune path: one owner-filtered listing, not a call per name
    assert second.plan_calls.aws.count("ssm", "DescribeParameters") == 1
    assert second.plan_calls.aws.count("ssm", "GetParameter") == 0


def test_secrets_never_show_in_plan_report_or_events(make_env: EnvFactory) -> None:
    env = make_env("dev")
    run = env.reconcile()
    assert run.report is not None and run.report.ok
    outputs = [
        render_text(run.plan.plan, verbose=True),
        render_json(run.plan.plan),
        render_markdown(run.plan.plan),
        render_report(run.report),
        run.lines() + repr(run.events),
        frontend_page(env),
    ]
    for value in env.secrets.values():
        for out in outputs:
            assert value not in out
    # the env file that fed Compose is gone; the kept override holds no secret
    left = [p for p in env.state_dir.rglob("*") if p.is_file()]
    assert not [p for p in left if p.name.endswith(".env")]
    for path in left:
        text = path.read_text(errors="replace")
        assert not any(value in text for value in env.secrets.values()), path


def test_changing_a_parameter_recreates_exactly_its_consumers(make_env: EnvFactory) -> None:
    env = converged(make_env)
    before = env.ids()
    # DB_NAME feeds mysql (MYSQL_DATABASE) and backend (DB_NAME); redis and frontend do not read it
    env.copy.edit("ParameterSet", "popcon-config", lambda spec: spec["parameters"].__setitem__("DB_NAME", "popcon2"))

    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    planned = kinds(run.plan.plan)
    assert planned == {
        f"parameter:{env.name('DB_NAME')}": PutParameter.kind,
        "service:default/popcon/mysql": RecreateService.kind,
        "job:popcon/migrate": RunJob.kind,  # the backend changes: its migration runs first
        "service:default/popcon/backend": RecreateService.kind,
    }
    after = env.ids()
    assert after["mysql"] != before["mysql"] and after["backend"] != before["backend"]
    assert after["redis"] == before["redis"] and after["frontend"] == before["frontend"]
    assert env.parameter("DB_NAME") == "popcon2"
    backend_env = env.api.inspect_container(after["backend"])["Config"]["Env"]
    assert "DB_NAME=popcon2" in backend_env
    assert not env.reconcile().plan.plan.actions


def test_changing_an_image_tag_recreates_exactly_that_service(make_env: EnvFactory, sandbox: SandboxInfo) -> None:
    env = converged(make_env)
    before = env.ids()
    env.copy.edit("Images", None, lambda spec: spec["images"]["backend"].__setitem__("tag", "2.1.0"))

    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    planned = {a: k for a, k in kinds(run.plan.plan).items() if k != "pull_image"}  # pulled unless present
    assert planned == {"job:popcon/migrate": RunJob.kind, "service:default/popcon/backend": RecreateService.kind}
    after = env.ids()
    assert after["backend"] != before["backend"]
    assert {s: after[s] for s in SERVICES - {"backend"}} == {s: before[s] for s in SERVICES - {"backend"}}
    image = str(env.api.inspect_container(after["backend"])["Config"]["Image"])
    assert image.endswith("@" + sandbox.images["popcon/backend:2.1.0"])
    assert not env.reconcile().plan.plan.actions


def test_drift_by_hand_shows_in_plan_and_apply_restores_it(make_env: EnvFactory) -> None:
    env = converged(make_env)
    before = env.ids()
    env.api.stop(before["redis"], timeout=1)
    env.api.remove_container(before["frontend"], force=True)
    env.clients.ssm.put_parameter(Name=env.name("DB_HOST"), Value="somewhere-else", Type="String", Overwrite=True)

    plan = env.reconcile(apply=False).plan.plan
    assert kinds(plan) == {
        f"parameter:{env.name('DB_HOST')}": PutParameter.kind,
        "service:default/popcon/redis": StartService.kind,
        "service:default/popcon/frontend": CreateService.kind,
    }
    reasons = {a.address: a.reason for a in plan.actions}
    assert "value changed" in reasons[f"parameter:{env.name('DB_HOST')}"]

    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    assert env.parameter("DB_HOST") == "mysql"
    containers = env.containers()
    assert all(c["State"] == "running" for c in containers.values())
    assert containers["redis"]["Id"] == before["redis"]  # started again, not recreated
    assert containers["backend"]["Id"] == before["backend"]  # the hand edit never reached a container
    assert not env.reconcile().plan.plan.actions


def test_prune_deletes_only_owned_parameters(make_env: EnvFactory) -> None:
    env = converged(make_env)
    ids = env.ids()
    env.copy.edit("ParameterSet", "popcon-config", lambda spec: spec["parameters"].__setitem__("FEATURE_X", "on"))
    run = env.reconcile()
    assert run.report is not None and run.report.ok
    assert env.parameter("FEATURE_X") == "on"
    # a parameter another tool owns, under the same path
    env.clients.ssm.put_parameter(
        Name=env.name("OTHER_TEAM"),
        Value="theirs",
        Type="String",
        Tags=[{"Key": OWNER_KEY, "Value": "someone-else"}],
    )

    env.copy.edit("ParameterSet", "popcon-config", lambda spec: spec["parameters"].pop("FEATURE_X"))
    run = env.reconcile()
    assert run.report is not None and run.report.ok
    assert kinds(run.plan.plan) == {f"parameter:{env.name('FEATURE_X')}": DeleteParameter.kind}
    unchanged = {u.address: u.reason for u in run.plan.plan.unchanged}
    assert "not owned" in unchanged[f"parameter:{env.name(FOREIGN)}"]
    assert "not owned" in unchanged[f"parameter:{env.name('OTHER_TEAM')}"]
    assert env.parameter("FEATURE_X") is None
    assert env.parameter(FOREIGN) == "on" and env.parameter("OTHER_TEAM") == "theirs"
    for key, value in env.secrets.items():
        assert env.parameter(key) == value  # external secrets are never written or deleted
    assert env.ids() == ids  # no container reads FEATURE_X


def test_a_stale_plan_is_never_applied_the_flow_plans_again(make_env: EnvFactory) -> None:
    from reconciler.app import reconcile
    from reconciler.core.events import Event, PlanStale

    env = converged(make_env)
    env.copy.edit("ParameterSet", "popcon-config", lambda spec: spec["parameters"].__setitem__("DB_PORT", "3307"))
    events: list[Event] = []
    ctx = env.open(events)
    shown: list[tuple[int, bool]] = []
    try:
        first = ctx.plan().plan
        name = env.name("DB_PORT")
        assert [a.address for a in first.actions if isinstance(a, PutParameter)] == [f"parameter:{name}"]

        # right before acting, re-check reads only what the plan touches
        ctx.world.counters.reset()
        assert ctx.recheck(first) == []
        aws = dict(ctx.world.counters.aws.calls)
        assert aws == {("ssm", "GetParameters"): 1}, aws
        assert ctx.world.counters.docker.total() == 1  # one container listing for the one host acted on
        assert ctx.world.counters.registry.calls == {}

        # someone writes the parameter between the plan and the apply: the plan is stale
        env.clients.ssm.put_parameter(Name=name, Value="3308", Type="String", Overwrite=True)
        stale = ctx.recheck(first)
        assert stale == [f"parameter:{name}: was version 1, now version 2"]

        def show(plan: Plan, fresh: bool) -> None:
            shown.append((len(plan.actions), fresh))

        def confirm(plan: Plan, fresh: bool) -> bool:
            return True

        outcome = reconcile.apply(ctx, show=show, confirm=confirm, on_event=events.append)
    finally:
        ctx.close()
    # the first plan (made before the hand edit) was stale when re-checked; a fresh plan was shown and applied
    assert [e.resources for e in events if isinstance(e, PlanStale)] == []  # plan made after the edit: fresh
    assert outcome.report is not None and outcome.report.ok and outcome.exit_code == 0
    assert env.parameter("DB_PORT") == "3307"
    assert shown == [(len(outcome.plan.actions), False)]


def test_the_flow_refuses_a_plan_the_world_changed_under(make_env: EnvFactory) -> None:
    from reconciler.app import reconcile
    from reconciler.core.events import Event, PlanStale

    env = converged(make_env)
    env.copy.edit("ParameterSet", "popcon-config", lambda spec: spec["parameters"].__setitem__("DB_PORT", "3307"))
    name = env.name("DB_PORT")
    events: list[Event] = []
    shown: list[bool] = []
    ctx = env.open(events)
    try:

        def confirm(plan: Plan, fresh: bool) -> bool:
            if not fresh:  # the world moves while the user reads the plan
                env.clients.ssm.put_parameter(Name=name, Value="3308", Type="String", Overwrite=True)
            return True

        outcome = reconcile.apply(
            ctx, show=lambda plan, fresh: shown.append(fresh), confirm=confirm, on_event=events.append
        )
    finally:
        ctx.close()
    stale = [e.resources for e in events if isinstance(e, PlanStale)]
    assert stale == [(f"parameter:{name}: was version 1, now version 2",)]
    assert shown == [False, True]  # the fresh plan was shown before it was applied
    assert outcome.report is not None and outcome.report.ok
    assert env.parameter("DB_PORT") == "3307"


def test_a_network_removed_by_hand_heals(make_env: EnvFactory) -> None:
    env = converged(make_env)
    api = env.api
    for c in env.containers().values():
        api.stop(c["Id"], timeout=1)
    for net in api.networks(filters={"label": f"com.docker.compose.project={env.copy.project}"}):
        api.remove_network(net["Id"])
    run = env.reconcile()
    assert run.report is not None and run.report.ok, render_report(run.report)
    planned = kinds(run.plan.plan)
    assert all(kind != StartService.kind for kind in planned.values()), planned  # a start would fail
    assert {planned[f"service:default/popcon/{s}"] for s in SERVICES} == {RecreateService.kind}
    assert all(c["State"] == "running" for c in env.containers().values())
    again = env.reconcile(apply=False)
    assert not again.plan.plan.has_changes, kinds(again.plan.plan)


def test_duplicates_from_two_runs_at_once_heal(make_env: EnvFactory) -> None:
    env = converged(make_env)
    api = env.api
    label = f"com.docker.compose.project={env.copy.project}"
    (original,) = [n for n in api.networks(filters={"label": label}) if n["Name"].endswith("_popcon-network")]
    labels = {str(k): str(v) for k, v in (api.inspect_network(original["Id"]).get("Labels") or {}).items()}
    twin = api.create_network(original["Name"], labels=labels, check_duplicate=False)  # what a race leaves
    try:
        run = env.reconcile()
        assert run.report is not None and run.report.ok, render_report(run.report)
        assert [(a.kind, a.address.rsplit("@", 1)[-1]) for a in run.plan.plan.actions] == [
            ("remove_network", str(twin["Id"])[:12])
        ]
        names = [n["Id"] for n in api.networks(filters={"label": label}) if n["Name"] == original["Name"]]
        assert names == [original["Id"]]  # the oldest, in use, stayed
        assert not env.reconcile(apply=False).plan.plan.has_changes
    finally:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_network(twin["Id"])
