"""validate and plan at N parameters x S services, and rendering of the largest plan.

Generated environments (generate.write_environment) with nothing seeded in
SSM and nothing running, so every plan is a first deploy: N PutParameters and
S services to create, the largest plan of its size. Per size:

* ``reconciler validate DIR`` and ``reconciler plan DIR`` as child processes:
  CPU (user+sys, with their children: the Compose check) and peak memory
  (ru_maxrss), medians of --repeat runs;
* in a fresh process (inproc.py): spec loading CPU, one observe, the pure plan CPU;
* for the largest size (section ``render``): the text and JSON rendering of
  its plan in-process (time, tracemalloc peak) and ``plan --format json``
  vs ``--format text`` as child processes.

Targets (issue 8), at 10,000 parameters + 300 services: validate <= 0.3 s CPU,
plan <= 0.1 s, rendering text and JSON <= 0.5 s each and < 100 MB.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.bench import measure
from tests.bench.generate import write_environment
from tests.bench.report import Report, mb, seconds
from tests.bench.world import Sandbox

TARGET_SIZE = (10_000, 300)
VALIDATE_CPU_S = 0.3
PLAN_S = 0.1
RENDER_S = 0.5
RENDER_MB = 100.0


def _inproc(env_dir: Path, state_dir: Path, *, with_render: bool) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.bench.inproc", str(env_dir), str(state_dir)]
    run = measure.run([*argv, "--render"] if with_render else argv, env=measure.child_env()).check()
    doc: dict[str, Any] = json.loads(run.stdout)
    return doc


def _cli(command: str, env_dir: Path, state_dir: Path, repeat: int, *extra: str) -> measure.Summary:
    world = ("--no-color", "--state-dir", str(state_dir)) if command == "plan" else ()
    return measure.repeat(measure.reconciler(command, str(env_dir), *world, *extra), repeat, env=measure.child_env())


def run(
    report: Report, sandbox: Sandbox, work: Path, *, params: list[int], services: list[int], repeat: int,
    sections: list[str],
) -> None:  # fmt: skip
    uid = uuid.uuid4().hex[:8]
    state = work / "state"
    dirs: dict[tuple[int, int], Path] = {}

    def env_dir(n: int, s: int) -> Path:
        if (n, s) not in dirs:
            dirs[n, s] = work / f"n{n}-s{s}"
            write_environment(dirs[n, s], sandbox.info, uid, n, s)
        return dirs[n, s]

    if "scale" in sections:
        report.section("scale", f"validate and plan at N parameters x S services (first-deploy plans; medians of "
                       f"{repeat} child processes; in-process figures from a fresh process)")  # fmt: skip
        report.line(f"{'N':>6} {'S':>4} | {'validate cmd':>19} | {'load':>7} | {'plan cmd':>26} | "
                    f"{'observe':>7} {'plan':>8} {'actions':>7}")  # fmt: skip
        report.line(f"{'':>6} {'':>4} | {'CPU s':>8} {'MB':>10} | {'CPU s':>7} | {'CPU s':>8} {'wall s':>7} {'MB':>9} "
                    f"| {'wall s':>7} {'CPU ms':>8}")  # fmt: skip
        figures: dict[tuple[int, int], tuple[measure.Summary, dict[str, Any]]] = {}
        for n in params:
            for s in services:
                d = env_dir(n, s)
                validate = _cli("validate", d, state, repeat)
                plan = _cli("plan", d, state, repeat)
                inproc = _inproc(d, state, with_render=False)
                figures[n, s] = (validate, inproc)
                report.line(
                    f"{n:>6} {s:>4} | {validate.cpu_s:>8.3f} {validate.maxrss_mb:>10.0f} | "
                    f"{inproc['load']['cpu_s']:>7.3f} | "
                    f"{plan.cpu_s:>8.3f} {plan.wall_s:>7.3f} {plan.maxrss_mb:>9.0f} | "
                    f"{inproc['observe_s']:>7.3f} {inproc['plan_cpu_s'] * 1000:>8.1f} {inproc['actions']:>7}"
                )
        report.line("validate cmd: the whole command (start-up, load, Compose check); load: spec loading alone")
        if TARGET_SIZE in figures:
            validate, inproc = figures[TARGET_SIZE]
            at = "10,000 parameters + 300 services"
            report.target(f"validate command CPU at {at}", seconds(validate.cpu_s), f"<= {VALIDATE_CPU_S} s",
                          validate.cpu_s <= VALIDATE_CPU_S)  # fmt: skip
            load_cpu = float(inproc["load"]["cpu_s"])
            report.target(f"spec loading CPU (in-process) at {at}", seconds(load_cpu), f"<= {VALIDATE_CPU_S} s",
                          load_cpu <= VALIDATE_CPU_S)  # fmt: skip
            plan_cpu = float(inproc["plan_cpu_s"])
            report.target(f"plan (pure, in-process) at {at}", seconds(plan_cpu), f"<= {PLAN_S} s", plan_cpu <= PLAN_S)
        else:
            report.line("targets apply at N=10,000 and S=300 (not measured in this run)")

    if "render" in sections:
        n, s = max(params), max(services)
        report.section("render", f"rendering the first-deploy plan of {n:,} parameters + {s} services")
        d = env_dir(n, s)
        inproc = _inproc(d, state, with_render=True)
        report.line(f"plan: {inproc['actions']} actions")
        for fmt, r in inproc["render"].items():
            report.line(f"{fmt:<13} in-process: {r['wall_s']:.3f} s wall, {r['cpu_s']:.3f} s CPU, peak "
                        f"{r['peak_mb']:.0f} MB (tracemalloc), output {r['bytes'] / 2**20:.1f} MB")  # fmt: skip
        for fmt in ("text", "json"):
            cli = _cli("plan", d, state, repeat, "--format", fmt)
            report.line(f"{fmt:<5} `reconciler plan --format {fmt}`: {cli.wall_s:.3f} s wall, {cli.cpu_s:.3f} s CPU, "
                        f"{cli.maxrss_mb:.0f} MB max RSS (whole command)")  # fmt: skip
        if (n, s) == TARGET_SIZE:
            for fmt, r in inproc["render"].items():
                if fmt == "json-indented":
                    report.line("json-indented (a terminal's, Python's pure-Python encoder) is shown, not targeted")
                    continue
                ok = r["wall_s"] <= RENDER_S and r["peak_mb"] < RENDER_MB
                report.target(f"render {fmt} of the largest plan", f"{seconds(r['wall_s'])}, {mb(r['peak_mb'])}",
                              f"<= {RENDER_S} s and < {RENDER_MB:.0f} MB", ok)  # fmt: skip
        else:
            report.line("targets apply to the plan of 10,000 parameters + 300 services (not measured in this run)")
