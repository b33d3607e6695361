"""AWS calls of an apply that changes C parameters, counted on the wire (proxy.py).

A generated environment of N parameters (seeded, owned) and a small stack is
applied once; then, for each C, C parameter values that no service reads are
changed in the spec and the CLI runs through a counting proxy in front of moto:
first ``reconciler plan`` (the reads of one observe, in the same state), then
``reconciler apply --auto-approve``. Target (issue 8): apply = the reads of
one observe + C PutParameter + at most ceil(C/10) re-check reads.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from collections import Counter
from pathlib import Path

from tests.bench import measure
from tests.bench.generate import write_environment
from tests.bench.nochange import seed
from tests.bench.proxy import CountingProxy, counting_proxy
from tests.bench.report import Report
from tests.bench.world import Sandbox, delete_path, remove_project

PER_NAME = frozenset({"SSM:ListTagsForResource", "SSM:GetParameter", "SSM:GetParameterHistory"})
SERVICES = 2  # they read P00000, P00001 and P00007; the changed parameters are taken from the end


def _change(env_dir: Path, n: int, c: int, round_: int) -> None:
    """New values for the last C parameters of parameters.yaml."""
    path = env_dir / "parameters.yaml"
    names = {f"P{i:05d}" for i in range(n - c, n)}

    def sub(m: re.Match[str]) -> str:
        return f"    {m[1]}: changed-{round_}-{m[1]}" if m[1] in names else m[0]

    path.write_text(re.sub(r"(?m)^    (P\d{5}): .*$", sub, path.read_text()))


def _cli(proxy: CountingProxy, state: Path, *args: str) -> tuple[Counter[str], measure.Run]:
    proxy.reset()
    argv = measure.reconciler(*args, "--no-color", "--state-dir", str(state), "--aws-endpoint-url", proxy.url)
    run = measure.run(argv, env=measure.child_env()).check()
    return proxy.reset(), run


def _breakdown(calls: Counter[str]) -> str:
    return ", ".join(f"{op} {k}" for op, k in sorted(calls.items()))


def run(
    report: Report, sandbox: Sandbox, work: Path, *, n: int, changed: list[int], cleanup: contextlib.ExitStack
) -> None:
    report.section("calls", f"AWS calls of an apply changing C of {n:,} parameters (counted on the wire)")
    uid = uuid.uuid4().hex[:8]
    env_dir, state = work / "env", work / "state"
    cleanup.callback(delete_path, sandbox.ssm, f"/bench-{uid}")
    cleanup.callback(remove_project, sandbox.docker, f"bench-{uid}")
    write_environment(env_dir, sandbox.info, uid, n, SERVICES)
    seed(sandbox.info, uid, n)
    apply = ("apply", str(env_dir), "--auto-approve")
    measure.run(
        measure.reconciler(*apply, "--no-color", "--state-dir", str(state)), env=measure.child_env()
    ).check()  # the stack runs; every parameter is in sync
    with counting_proxy(sandbox.info.moto_url) as proxy:
        for round_, c in enumerate(c for c in changed if 0 < c <= n - 8):
            _change(env_dir, n, c, round_)
            observe, _ = _cli(proxy, state, "plan", str(env_dir))
            calls, done = _cli(proxy, state, *apply)
            reads, total, puts = sum(observe.values()), sum(calls.values()), calls["SSM:PutParameter"]
            limit = reads + c + math.ceil(c / 10)
            report.line(f"C={c}: plan (one observe) {reads} calls: {_breakdown(observe)}")
            report.line(f"C={c}: apply {total} calls in {done.wall_s:.1f} s: {_breakdown(calls)}")
            per_name = sum(k for op, k in observe.items() if op in PER_NAME)
            if per_name:
                report.line(f"C={c}: note: {per_name} of the observe's reads are one per parameter "
                            f"({', '.join(op for op in observe if op in PER_NAME)}); "
                            f"the floor is ceil(N/10) = {math.ceil(n / 10)} GetParametersByPath")  # fmt: skip
            report.target(
                f"AWS calls, apply of C={c}",
                f"{total} ({puts} PutParameter)",
                f"<= {reads} + {c} + {math.ceil(c / 10)} = {limit}; floor ceil(N/10) + C = {math.ceil(n / 10) + c}",
                total <= limit and puts == c,
            )
