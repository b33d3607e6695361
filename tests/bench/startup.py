"""CLI start-up: ``reconciler --help`` against a bare ``python -c pass`` (wall medians).

Target (issue 8): --help <= 2 x python -c pass + 100 ms, both measured here, alternating.
"""

from __future__ import annotations

import sys

from tests.bench import measure
from tests.bench.report import Report


def run(report: Report, *, runs: int) -> None:
    report.section("startup", f"CLI start-up ({runs} alternating runs each, wall medians)")
    env = measure.child_env()
    bare: list[measure.Run] = []
    helps: list[measure.Run] = []
    for _ in range(runs):
        bare.append(measure.run([sys.executable, "-c", "pass"], env=env).check())
        helps.append(measure.run(measure.reconciler("--help"), env=env).check())
    python, cli = measure.Summary.of(bare), measure.Summary.of(helps)
    report.line(f"python -c pass     {python.wall_s * 1000:6.0f} ms wall  {python.cpu_s * 1000:6.0f} ms CPU  "
                f"{python.maxrss_mb:5.0f} MB")  # fmt: skip
    report.line(f"reconciler --help  {cli.wall_s * 1000:6.0f} ms wall  {cli.cpu_s * 1000:6.0f} ms CPU  "
                f"{cli.maxrss_mb:5.0f} MB")  # fmt: skip
    limit = 2 * python.wall_s + 0.1
    report.target("reconciler --help", f"{cli.wall_s * 1000:.0f} ms", f"<= 2 x {python.wall_s * 1000:.0f} + 100 = "
                  f"{limit * 1000:.0f} ms", cli.wall_s <= limit)  # fmt: skip
