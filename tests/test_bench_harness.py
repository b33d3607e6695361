"""The benchmark harness's own pieces (tests/bench), without the sandbox and without timing anything.

`make bench` runs for minutes and only at the end of a piece of work; these
keep its inputs right in between: the pop-con copies both sides deploy, the
scenario edits, the deploy.sh replica's syntax, the call-counting proxy and
the measuring launcher.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment
from tests.bench import measure, popcon
from tests.bench.apply_vs_script import DEPLOY_SH, PARAMETER, TAG_IMAGE
from tests.bench.proxy import counting_proxy

REGISTRY = "127.0.0.1:5999"


def _rec_env(tmp_path: Path) -> popcon.ReconcilerEnv:
    return popcon.write_reconciler_env(
        tmp_path / "rec", name="bench-t1", prefix="/bench-t1/reconciler", ownership="bench-t1",
        project="bench-t1-reconciler", moto_url="http://127.0.0.1:4599", registry=REGISTRY,
    )  # fmt: skip


def test_the_dev_stack_is_read_as_both_sides_need_it() -> None:
    stack = popcon.Stack.read()
    assert set(stack.service_images) == {"mysql", "redis", "backend", "frontend"}
    assert stack.parameters[PARAMETER][0] == "String"
    assert TAG_IMAGE in stack.images
    assert stack.secrets and not set(stack.secrets) & set(stack.parameters)
    assert all("," in v for t, v in stack.parameters.values() if t == "StringList")


def test_the_reconcilers_copy_is_dev_renamed_and_follows_the_scenario_edits(tmp_path: Path) -> None:
    env = _rec_env(tmp_path)
    desired = build_desired(load_environment(env.root), lambda _name: "(unchecked)")
    assert (desired.environment, desired.owner) == ("bench-t1", "bench-t1")
    assert [s.project for s in desired.stacks] == ["bench-t1-reconciler"]
    assert {p.name for p in desired.parameters} >= {f"/bench-t1/reconciler/{PARAMETER}"}
    assert "127.0.0.1:3000:" not in (env.root / "docker-compose.yml").read_text()

    env.set_tag(TAG_IMAGE, "9.9.9")
    env.set_parameter(PARAMETER, "other")
    desired = build_desired(load_environment(env.root), lambda _name: "(unchecked)")
    image = next(i for i in desired.images if i.name == TAG_IMAGE)
    assert "9.9.9" in repr(image)
    param = next(p for p in desired.parameters if p.key == PARAMETER)
    assert "other" in repr(param.value)


def test_deploy_shs_compose_file_names_full_image_references(tmp_path: Path) -> None:
    stack = popcon.Stack.read()
    d = popcon.write_script_dir(tmp_path / "sh", stack=stack, prefix="/p", project="p", registry=REGISTRY)
    d.set_tag(TAG_IMAGE, "9.9.9")
    (compose,) = popcon.load(d.root / "docker-compose.yml")
    images = {name: svc["image"] for name, svc in compose["services"].items()}
    for service, key in stack.service_images.items():
        repository, tag = stack.images[key]
        assert images[service] == f"{REGISTRY}/{repository}:{'9.9.9' if key == TAG_IMAGE else tag}"
    assert "127.0.0.1:3000:" not in (d.root / "docker-compose.yml").read_text()


def test_deploy_sh_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY_SH)], check=True)


@pytest.fixture
def upstream() -> Iterator[str]:
    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_proxy_counts_calls_by_operation(upstream: str) -> None:
    import urllib.request

    with counting_proxy(upstream) as proxy:
        for target in ("AmazonSSM.PutParameter", "AmazonSSM.PutParameter", "AmazonSSM.GetParameters"):
            req = urllib.request.Request(proxy.url + "/", data=b"{}", headers={"X-Amz-Target": target})
            with urllib.request.urlopen(req) as resp:
                assert json.loads(resp.read()) == {}
        assert proxy.reset() == {"SSM:PutParameter": 2, "SSM:GetParameters": 1}
        assert not proxy.calls


def test_the_launcher_reports_the_commands_exit_output_and_usage() -> None:
    run = measure.run([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    assert (run.returncode, run.stdout.strip()) == (3, "out")
    assert run.cpu_s >= 0 and run.maxrss_mb > 0
    with pytest.raises(RuntimeError, match="exited 3"):
        run.check()


def test_gitops_recreate_breakdown_from_engine_events() -> None:
    from tests.bench.gitops import breakdown

    def event(cid: str, action: str, t: float) -> dict[str, object]:
        return {"Type": "container", "Action": action, "id": cid, "timeNano": int(t * 1e9)}

    events = [
        event("old", "kill", 10.0), event("old", "kill", 10.5), event("old", "die", 10.25),
        event("new", "create", 10.5), event("new", "start", 11.0), {"Type": "network", "Action": "x"},
    ]  # fmt: skip
    b = breakdown(events, "old", "new")
    assert (b.kill, b.die, b.create, b.start, b.healthy) == (10.0, 10.25, 10.5, 11.0, None)
    assert b.old_stop == pytest.approx(0.25) and b.own_start == pytest.approx(0.5)
    healthy = breakdown([*events, event("new", "health_status: healthy", 12.5)], "old", "new")
    assert healthy.own_start == pytest.approx(2.0)  # create -> healthy
    first = breakdown(events[3:5], None, "new")  # a first deploy: no old container
    assert first.old_stop is None and first.own_start == pytest.approx(0.5)
    assert breakdown([], "old", "new").own_start is None


def test_gitops_listener_url_and_calls_beyond_the_floor() -> None:
    from collections import Counter
    from types import SimpleNamespace

    from tests.bench.gitops import beyond, calls_of, listening_url

    assert listening_url("webhook: listening on http://127.0.0.1:43121 (POST /webhook)") == "http://127.0.0.1:43121"
    assert listening_url("tick 1 (poll): applied") is None
    counters = SimpleNamespace(
        aws=SimpleNamespace(calls=Counter({("ssm", "GetParametersByPath"): 2})),
        registry=SimpleNamespace(calls=Counter({("HEAD", "127.0.0.1:5000"): 4})),
        docker=SimpleNamespace(calls=Counter({("GET", "/containers/json"): 1})),
    )
    calls = calls_of(counters)
    assert calls == {"aws ssm:GetParametersByPath": 2, "docker GET /containers/json": 1,
                     "registry HEAD 127.0.0.1:5000": 4}  # fmt: skip
    assert beyond(calls, calls) == {}
    floor = {**calls, "aws ssm:GetParametersByPath": 1}
    extra = beyond({**calls, "aws dynamodb:PutItem": 3}, floor)
    assert extra == {"aws dynamodb:PutItem": 3, "aws ssm:GetParametersByPath": 1}


def test_a_rollouts_span_batches_and_floor_come_from_its_timed_lines() -> None:
    from tests.bench import rollout_timing as timing

    plan = (
        "    < instance:i-1/leave  # batch 1: leaves tg and drains (up to 5s) before it changes\n"
        "    < instance:i-2/leave  # batch 1: leaves tg and drains (up to 5s) before it changes\n"
        "    < instance:i-3/leave  # batch 2: leaves tg and drains (up to 5s) before it changes\n"
    )
    lines = [
        (1.0, "parameter:/p/A: done (created)"),
        (2.0, "instance:i-1/leave: leaving the load balancer and draining"),
        (2.0, "instance:i-2/leave: leaving the load balancer and draining"),
        (7.0, "stack popcon on host i-1: applying 1 action(s)"),
        (7.0, "stack popcon on host i-2: applying 1 action(s)"),
        (8.0, "service:i-1/popcon/frontend: done (recreated)"),
        (8.5, "service:i-2/popcon/frontend: done (recreated)"),
        (12.0, "instance:i-2/join: done (joined tg; healthy after 3s)"),
        (12.0, "instance:i-3/leave: leaving the load balancer and draining"),
        (17.0, "stack popcon on host i-3: applying 1 action(s)"),
        (17.2, "image:i-3/popcon/frontend: done (pulled)"),
        (18.0, "service:i-3/popcon/frontend: done (recreated)"),
        (22.0, "instance:i-3/join: done (joined tg; healthy after 3s)"),
        (23.0, "fleet:web/bake: done (no alarm in 0s)"),
    ]
    assert timing.recreates(lines) == {"i-1": 1.0, "i-2": 1.5, "i-3": 1.0}
    r = timing.rollout(lines, plan)
    assert r.span == 20.0
    assert [(b.number, b.instances, b.recreate) for b in r.batches] == [(1, ("i-1", "i-2"), 1.5), (2, ("i-3",), 1.0)]
    floor = timing.Floor(drain=5.0, registration=1.0, healthy_threshold=2, interval=1.0)
    assert floor.health == 3.0 and r.floor(floor) == (5 + 1.5 + 3) + (5 + 1.0 + 3)
    with pytest.raises(ValueError, match="no rollout"):
        timing.rollout(lines[:1], plan)
