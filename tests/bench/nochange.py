"""Benchmark: the cost of a no-change reconcile, by calls and plan time (`make bench`). Not a test.

For generated environments of N = 100, 1,000 and 10,000 SSM parameters and one
Compose stack of 20 services, on the sandbox (moto, the local registry, the
real engine): seed the parameters (owned, straight into moto, unpaced), apply
the stack once, then run a no-change reconcile and print every call it made
to AWS, the registry and Docker, the observe time and the pure plan time.

The floor (../shared/DESIGN.md): ceil(N/10) GetParametersByPath, one tag
look-up per image, one container listing per host, no per-parameter calls.
Terraform's aws_ssm_parameter makes about 3 calls per parameter.

    python -m tests.bench --only nochange [--sizes 100,1000,10000] [--nochange-services 20]
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from reconciler import app, planner
from reconciler.core.events import Event
from reconciler.core.model import ENVIRONMENT_KEY, OWNER_KEY
from reconciler.render import render_report
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment
from tests.bench.generate import write_environment
from tests.bench.report import Report

if TYPE_CHECKING:
    from mypy_boto3_ssm.type_defs import TagTypeDef


@dataclass(frozen=True)
class Row:
    n: int
    seed_s: float
    load_s: float
    observe_s: float
    plan_s: float
    calls: dict[str, dict[str, int]]  # group (aws, registry, docker) -> call -> count


def seed(sandbox: SandboxInfo, uid: str, n: int) -> None:
    """The N parameters as a previous apply would have left them (owned), written in parallel."""
    ssm = boto3.client("ssm", region_name=sandbox.region, endpoint_url=sandbox.moto_url,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    tags: list[TagTypeDef] = [
        {"Key": OWNER_KEY, "Value": f"bench-{uid}"},
        {"Key": ENVIRONMENT_KEY, "Value": f"bench{n}"},
    ]

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


def run(report: Report, sandbox: SandboxInfo, work: Path, *, sizes: list[int], services: int, repeat: int = 5) -> None:
    report.section("nochange", f"no-change reconcile: calls and time at N parameters, {services} services")
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        report.line(f"-- N={n} parameters, {services} services")
        row = measure(sandbox, n, services, repeat, work)
        rows.append(row)
        for group in ("aws", "registry", "docker"):
            for call, count in row.calls[group].items():
                report.line(f"{group:<8} {call:<45} {count:>6}")
        report.line(f"floor: GetParametersByPath ceil(N/10) = {math.ceil(n / 10)}; Terraform ~3N = {3 * n}")
        report.line(f"seed {row.seed_s:.1f}s  load+validate {row.load_s * 1000:.0f} ms  "
                    f"observe {row.observe_s * 1000:.0f} ms  plan {row.plan_s * 1000:.1f} ms (median)")
    report.line()
    report.line(f"{'N':>6} {'AWS':>6} {'GetParametersByPath':>20} {'registry':>9} {'docker':>7} "
                f"{'observe ms':>11} {'plan ms':>8} {'load ms':>8} {'terraform ~3N':>14}")
    for row in rows:
        aws = row.calls["aws"]
        report.line(f"{row.n:>6} {sum(aws.values()):>6} {aws.get('ssm:GetParametersByPath', 0):>20} "
                    f"{sum(row.calls['registry'].values()):>9} {sum(row.calls['docker'].values()):>7} "
                    f"{row.observe_s * 1000:>11.0f} {row.plan_s * 1000:>8.1f} {row.load_s * 1000:>8.0f} "
                    f"{3 * row.n:>14}")
