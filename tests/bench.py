"""Benchmark: the cost of a no-change reconcile, by calls and plan time (`make bench`). Not a test.

For generated environments of N = 100, 1,000 and 10,000 SSM parameters and one
Compose stack of 20 services, on the sandbox (moto, the local registry, the
real engine): seed the parameters (owned, straight into moto, unpaced), apply
the stack once, then run a no-change reconcile and print every call it made
to AWS, the registry and Docker, the observe time and the pure plan time.

The floor (../shared/DESIGN.md): ceil(N/10) GetParametersByPath, one tag
look-up per image, one container listing per host, no per-parameter calls.
Terraform's aws_ssm_parameter makes about 3 calls per parameter.

    python -m tests.bench [--sizes 100,1000,10000] [--services 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3

from reconciler import app, planner
from reconciler.events import Event
from reconciler.model import ENVIRONMENT_KEY, OWNER_KEY
from reconciler.render import render_report
from reconciler.sandbox import SandboxInfo, default_state_dir, up
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

IMAGES = {"frontend": ("popcon/frontend", "1.5.0"), "backend": ("popcon/backend", "2.2.0"),
          "mysql": ("popcon/mysql", "8.0"), "redis": ("popcon/redis", "7.2")}


@dataclass(frozen=True)
class Row:
    n: int
    seed_s: float
    load_s: float
    observe_s: float
    plan_s: float
    calls: dict[str, dict[str, int]]  # group (aws, registry, docker) -> call -> count


def write_environment(root: Path, sandbox: SandboxInfo, uid: str, n: int, services: int) -> None:
    prefix = f"/bench-{uid}/app"
    root.mkdir(parents=True)
    (root / "environment.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Environment\n"
        f"metadata: {{name: bench{n}}}\n"
        f"spec:\n  aws: {{region: {sandbox.region}, endpointUrl: '{sandbox.moto_url}'}}\n"
        f"  parameterPrefix: {prefix}\n"
        f"  registry: {{type: oci, url: '{sandbox.registry}', insecure: true}}\n"
        f"  ownership: bench-{uid}\n"
    )
    params = "".join(f"    P{i:05d}: value-{i}\n" for i in range(n))
    (root / "parameters.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ParameterSet\nmetadata: {name: config}\n"
        f"spec:\n  path: {prefix}\n  prune: true\n  parameters:\n{params}"
    )
    images = "".join(f"    {k}: {{repository: {r}, tag: '{t}'}}\n" for k, (r, t) in IMAGES.items())
    (root / "images.yaml").write_text(
        f"apiVersion: reconciler.dev/v1alpha1\nkind: Images\nmetadata: {{name: images}}\nspec:\n  images:\n{images}"
    )
    names = [f"svc{i:02d}" for i in range(services)]
    kinds = list(IMAGES)
    stack_services = "".join(f"    {s}: {{image: {kinds[i % len(kinds)]}}}\n" for i, s in enumerate(names))
    (root / "stack.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: app}\n"
        f"spec:\n  composeFile: docker-compose.yml\n  project: bench-{uid}\n  parameterSets: [config]\n"
        f"  services:\n{stack_services}"
    )
    compose = "services:\n"
    for i, s in enumerate(names):
        compose += (
            f"  {s}:\n    image: placeholder\n    stop_grace_period: 1s\n"
            f"    environment:\n      SETTING_A: ${{P{i % n:05d}}}\n      SETTING_B: ${{P{(i * 7) % n:05d}}}\n"
        )
    (root / "docker-compose.yml").write_text(compose)


def seed(sandbox: SandboxInfo, uid: str, n: int) -> None:
    """The N parameters as a previous apply would have left them (owned), written in parallel."""
    ssm = boto3.client("ssm", region_name=sandbox.region, endpoint_url=sandbox.moto_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    tags = [{"Key": OWNER_KEY, "Value": f"bench-{uid}"}, {"Key": ENVIRONMENT_KEY, "Value": f"bench{n}"}]

    def put(i: int) -> None:
        ssm.put_parameter(Name=f"/bench-{uid}/app/P{i:05d}", Value=f"value-{i}", Type="String", Tags=tags)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(n)))


def cleanup(sandbox: SandboxInfo, uid: str) -> None:
    ssm = boto3.client("ssm", region_name=sandbox.region, endpoint_url=sandbox.moto_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    names = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=f"/bench-{uid}", Recursive=True) for p in page["Parameters"]]
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start:start + 10])
    import docker

    client = docker.APIClient(base_url=sandbox.docker_host)
    label = f"com.docker.compose.project=bench-{uid}"
    for c in client.containers(all=True, filters={"label": label}):
        client.remove_container(c["Id"], force=True)
    for net in client.networks(filters={"label": label}):
        client.remove_network(net["Id"])
    client.close()


def measure(sandbox: SandboxInfo, n: int, services: int, repeat: int, work: Path) -> Row:
    uid = uuid.uuid4().hex[:8]
    env_dir = work / f"bench-{n}"
    write_environment(env_dir, sandbox, uid, n, services)
    overrides = app.Overrides(state_dir=work / "state")
    events: list[Event] = []
    try:
        t = time.perf_counter()
        seed(sandbox, uid, n)
        seeded = time.perf_counter() - t
        ctx = app.open_environment(env_dir, overrides, read_only=False, on_event=events.append)
        try:
            first = ctx.plan()
            report = ctx.apply(first.plan)
            if not report.ok:
                raise SystemExit(render_report(report))
            stray = [a for a in first.plan.actions if a.kind in ("put_parameter", "delete_parameter")]
            assert not stray, f"seeded parameters should be in sync, got {len(stray)} parameter actions"
        finally:
            ctx.close()

        t = time.perf_counter()
        build_desired(load_environment(env_dir), lambda _: None)
        load_s = time.perf_counter() - t

        ctx = app.open_environment(env_dir, overrides, read_only=True, on_event=events.append)
        try:
            ctx.world.counters.reset()
            t = time.perf_counter()
            observed = ctx.observe()
            observe_s = time.perf_counter() - t
            counters = ctx.world.counters
            calls = {
                "aws": dict(sorted((f"{s}:{op}", k) for (s, op), k in counters.aws.calls.items())),
                "registry": dict(sorted((f"{m} {h}", k) for (m, h), k in counters.registry.calls.items())),
                "docker": dict(sorted((f"{m} {p}", k) for (m, p), k in counters.docker.calls.items())),
            }
            plan_times = []
            for _ in range(repeat):
                t = time.perf_counter()
                result = planner.plan(ctx.desired, observed)
                plan_times.append(time.perf_counter() - t)
            assert not result.actions and not result.problems, "the second reconcile should find no change"
        finally:
            ctx.close()
        return Row(n, seeded, load_s, observe_s, statistics.median(plan_times), calls)
    finally:
        cleanup(sandbox, uid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="plan repetitions (median reported)")
    args = parser.parse_args(argv)
    sandbox = up(default_state_dir())
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    rows = []
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            print(f"== N={n} parameters, {args.services} services", flush=True)
            row = measure(sandbox, n, args.services, args.repeat, work)
            rows.append(row)
            for group in ("aws", "registry", "docker"):
                for call, count in row.calls[group].items():
                    print(f"   {group:<8} {call:<45} {count:>6}")
            print(f"   floor: GetParametersByPath ceil(N/10) = {math.ceil(n / 10)}; Terraform ~3N = {3 * n}")
            print(f"   seed {row.seed_s:.1f}s  load+validate {row.load_s * 1000:.0f} ms  "
                  f"observe {row.observe_s * 1000:.0f} ms  plan {row.plan_s * 1000:.1f} ms (median)",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'N':>6} {'AWS':>6} {'GetParametersByPath':>20} {'registry':>9} {'docker':>7} "
          f"{'observe ms':>11} {'plan ms':>8} {'load ms':>8} {'terraform ~3N':>14}")
    for row in rows:
        aws = row.calls["aws"]
        print(f"{row.n:>6} {sum(aws.values()):>6} {aws.get('ssm:GetParametersByPath', 0):>20} "
              f"{sum(row.calls['registry'].values()):>9} {sum(row.calls['docker'].values()):>7} "
              f"{row.observe_s * 1000:>11.0f} {row.plan_s * 1000:>8.1f} {row.load_s * 1000:>8.0f} {3 * row.n:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
