"""In-process figures of one environment, in a fresh process of its own (run by scale.py):

    python -m tests.bench.inproc ENV_DIR STATE_DIR [--render] [--repeat 5]

Prints one JSON object: spec loading (load_environment + build_desired, as
``validate`` does before the Compose check: CPU and wall), one observe (wall),
the pure plan (CPU, median of --repeat), and with --render the text and JSON
rendering of that plan: time (untraced) and peak Python memory (tracemalloc,
a second pass), and the size of the output.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from reconciler import app, planner, render
from reconciler.core.plan import Plan
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment


def _render(plan: Plan, fmt: str) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    pretty = fmt == "json-indented"
    fmt = "json" if pretty else fmt
    text = render.render_plan(plan, fmt, color=False, pretty_json=pretty)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del text
    tracemalloc.start()
    text = render.render_plan(plan, fmt, color=False, pretty_json=pretty)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak / 2**20, "bytes": len(text.encode())}


def measure(env_dir: Path, state_dir: Path, *, with_render: bool, repeat: int) -> dict[str, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    build_desired(load_environment(env_dir), lambda _name: "(unchecked)")
    load = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    ctx = app.open_environment(env_dir, app.Overrides(state_dir=state_dir), read_only=True)
    try:
        wall = time.perf_counter()
        observed = ctx.observe()
        observe_s = time.perf_counter() - wall
        times = []
        for _ in range(repeat):
            cpu = time.process_time()
            plan = planner.plan(ctx.desired, observed)
            times.append(time.process_time() - cpu)
    finally:
        ctx.close()
    result: dict[str, object] = {
        "load": load,
        "observe_s": observe_s,
        "plan_cpu_s": statistics.median(times),
        "actions": len(plan.actions),
        "problems": len(plan.problems),
    }
    if with_render:
        # json: what a pipe or a file gets (compact, the C encoder); json-indented: a terminal's
        result["render"] = {fmt: _render(plan, fmt) for fmt in ("text", "json", "json-indented")}
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.inproc")
    p.add_argument("env_dir", type=Path)
    p.add_argument("state_dir", type=Path)
    p.add_argument("--render", action="store_true")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    doc = measure(args.env_dir, args.state_dir, with_render=args.render, repeat=args.repeat)
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
