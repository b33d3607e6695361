"""Posting or updating the pull-request comment of a 10,000-parameter plan, beyond the plan itself.

The same parameters-only environment (N parameters, none in moto yet: a first-deploy plan of N
changes) is planned by ``reconciler plan --format markdown`` and by ``reconciler comment``
against the local GitHub API built from GitHub's official OpenAPI description
(tests/prcomment/apiserver.py, served by this process on loopback; it checks every request
against the description, which counts in the figure). Each a child process, alternating,
medians of wall time. ``comment`` is measured three ways: creating the comment (a new pull
request each run), editing it (a new head commit each run) and finding it unchanged (no call
but the listing). Target (issue 16): each at most 1 s more than the plan.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.bench import measure
from tests.bench.report import Report, seconds
from tests.bench.world import Sandbox
from tests.prcomment.apiserver import GitHubAPI, load_description, serving
from tests.prcomment.gitrepo import write_environment

TOKEN = "ghs_bench0000000000000000000000000000000"
TARGET_S = 1.0


def run(report: Report, sandbox: Sandbox, work: Path, *, n: int, runs: int) -> None:
    report.section("comment", f"the pull-request comment of a {n:,}-parameter plan ({runs} runs each, wall medians)")
    env_dir = work / "environments" / "big"
    prefix = f"/bench/comment-{uuid.uuid4().hex[:8]}"
    write_environment(env_dir, "big", sandbox.info.moto_url, prefix, {f"P{i:05d}": f"value-{i}" for i in range(n)})
    state = ["--state-dir", str(work / "state")]
    env = measure.child_env({"GITHUB_TOKEN": TOKEN})
    with serving(GitHubAPI(load_description(), TOKEN)) as api:
        base = ["comment", str(env_dir), *state, "--repository", "octo/bench", "--github-api-url", api.url]
        measure.run(measure.reconciler("plan", str(env_dir), *state), env=env).check()  # warm the Compose check cache
        plans, created, edited, same = [], [], [], []
        for i in range(runs):
            plans.append(measure.run(measure.reconciler("plan", str(env_dir), "--format", "markdown", *state),
                                     env=env).check())  # fmt: skip
            created.append(measure.run(measure.reconciler(*base, "--pull-request", str(100 + i), "--head-sha",
                                                          "a" * 40), env=env).check())  # fmt: skip
            edited.append(measure.run(measure.reconciler(*base, "--pull-request", "100", "--head-sha",
                                                         f"{i + 1:040x}"), env=env).check())  # fmt: skip
            same.append(measure.run(measure.reconciler(*base, "--pull-request", "100", "--head-sha",
                                                       f"{i + 1:040x}"), env=env).check())  # fmt: skip
        sizes = {len(body) for key in api.comments for body in api.bodies(*key)}
        verbs = [r.method for r in api.requests]
        assert verbs.count("POST") == runs and verbs.count("PATCH") == runs, verbs  # the no-op runs only listed
        assert api.violations == [], api.violations
    plan_s = measure.median([r.wall_s for r in plans])
    report.line(f"plan --format markdown          {seconds(plan_s)} wall, "
                f"{seconds(measure.median([r.cpu_s for r in plans]))} CPU")  # fmt: skip
    report.line(f"comment bodies: {min(sizes):,} to {max(sizes):,} characters (limit 65,536); "
                f"{len(api.requests)} requests, none outside GitHub's description")  # fmt: skip
    plan_cpu = measure.median([r.cpu_s for r in plans])
    for label, runs_ in (("create", created), ("edit in place", edited), ("unchanged (no call)", same)):
        wall = measure.median([r.wall_s for r in runs_])
        cpu = measure.median([r.cpu_s for r in runs_])
        report.line(f"comment, {label:<20} {seconds(wall)} wall, {seconds(cpu)} CPU "
                    f"(beyond the plan: {seconds(cpu - plan_cpu)} CPU)")  # fmt: skip
        report.target(f"comment, {label}: beyond the plan", f"{seconds(wall - plan_s)}", f"<= {TARGET_S:g} s",
                      wall - plan_s <= TARGET_S)  # fmt: skip
