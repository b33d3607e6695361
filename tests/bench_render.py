"""Benchmark: rendering a first-deploy plan (text, JSON, Markdown). Pure, no sandbox. Not a test.

A first deploy of N parameters (one in 50 a SecureString) and S services in
stacks of 20, each service reading two parameters: every parameter is
created, every image pulled, every service created. Prints the plan time and,
per format (JSON compact, as the CLI prints it to a pipe, and indented, as
to a terminal), the median render time (wall and CPU), the size of the output, how much the
process's peak RSS grew while rendering (ru_maxrss: only meaningful for the
first format measured, so give one format to measure it) and the peak memory
the render allocated (tracemalloc, measured in a separate run).

    python -m tests.bench_render [--parameters 10000] [--services 300] [--repeat 5] [--formats json,text]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from planner.build import desired_state, observed_state

from reconciler.plan import Plan
from reconciler.planner import plan
from reconciler.render import render_json, render_markdown, render_text

IMAGES = {"frontend": ("popcon/frontend", "1.5.0"), "backend": ("popcon/backend", "2.2.0"),
          "mysql": ("popcon/mysql", "8.0"), "redis": ("popcon/redis", "7.2")}


def first_deploy(n: int, services: int) -> Plan:
    params: dict[str, Any] = {}
    for i in range(n):
        params[f"P{i:05d}"] = {"type": "SecureString", "value": f"secret-{i}"} if i % 50 == 0 else f"value-{i}"
    kinds = list(IMAGES)
    stacks: dict[str, Any] = {}
    for s in range(services):
        stack = stacks.setdefault(f"stack{s // 20:02d}", {"parameter_sets": ["config"], "services": {}})
        stack["services"][f"svc{s:03d}"] = {
            "image": kinds[s % len(kinds)],
            "variables": [f"P{s % n:05d}", f"P{(s * 7) % n:05d}"],
        }
    desired = desired_state({
        "sets": {"config": {"path": "/bench/app", "prune": True, "parameters": params}},
        "images": {k: {"repository": r, "tag": t} for k, (r, t) in IMAGES.items()},
        "stacks": stacks,
    })
    observed = observed_state({"registry": {f"{r}:{t}": k for k, (r, t) in IMAGES.items()}}, desired)
    return plan(desired, observed)


def measure(render: Callable[[Plan], str], the_plan: Plan, repeat: int) -> tuple[float, float, int, float, float]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    cpu = []
    size = 0
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        size = len(render(the_plan).encode())
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1e3
    tracemalloc.start()
    render(the_plan)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), statistics.median(cpu), size, rss_growth, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parameters", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--formats", default="text,text-color,json,json-pretty,markdown")
    args = parser.parse_args()
    t = time.perf_counter()
    the_plan = first_deploy(args.parameters, args.services)
    print(f"plan: {len(the_plan.actions)} actions in {time.perf_counter() - t:.3f} s")
    renderers: dict[str, Callable[[Plan], str]] = {
        "text": lambda p: render_text(p, color=False),
        "text-color": lambda p: render_text(p, color=True),
        "json": lambda p: render_json(p, pretty=False),
        "json-pretty": render_json,
        "markdown": render_markdown,
    }
    for name in args.formats.split(","):
        median, cpu, size, rss, peak = measure(renderers[name], the_plan, args.repeat)
        print(f"{name:<11} {median:6.3f} s, CPU {cpu:6.3f} s (medians of {args.repeat})  {size / 1e6:5.1f} MB out  "
              f"RSS +{rss:6.1f} MB  peak {peak:6.1f} MB (tracemalloc)")


if __name__ == "__main__":
    main()
