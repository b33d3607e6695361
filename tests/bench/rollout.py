"""Rolling deploys over the sandbox's fleet (issue 14): a rollout against its floor, a rollback from a
failed gate or an alarm, and the AWS calls of an idle tick with a fleet.

A copy of environments/prod of the bench's own (parameter path, ownership, project; no bake, the
health gate every second) is applied with ``reconciler apply --sandbox`` to popcon-prod-asg
scaled to N instances (the new ones converged first, untimed), then the frontend's tag is bumped
(1.4.0 <-> 1.5.0) and applied again: that apply is timed from its event lines as they arrive
(fleetgroup.Timed). The rollout's span runs from the first instance starting to leave to the last
one reported healthy by its target group (the plan before it and the process start are printed
apart). Its floor (rollout_timing) sums over the batches: the drain (the target group's
deregistration delay), the recreate (the run's own stack steps, the longest of the batch) and the
load balancer's time to put a target in service (its registration delay and healthy threshold x
check interval, as the target group's settings and the sandbox's time scale give them). Target:
at most 1.15 x the floor for N = 2, 3, 5; batch "50%" on 4 instances about half of batch 1.

Rollback, through ``reconciler run --once`` on a git repository of the copy: a ``broken`` tag fails
its health gate on the first instance; a tag bump with an alarm set to ALARM once the first batch
re-joined. Timed from the failure's line to the rollback's last instance re-joined; its floor is
the same sum over the instances the rollback changed. Target: at most the floor + 5 s.

Idle tick, in process (as the gitops section does): the AWS calls of a tick of ``reconciler run``
that finds nothing to do. Target: ceil(P/10) GetParametersByPath for the P parameters under the
path (one more for an exact multiple of 10), 1 DescribeAutoScalingGroups, 1 DescribeTargetHealth
per target group, 1 DescribeAlarms, and nothing else.

The group is put back as ``sandbox up`` made it however the section ends.

    python -m tests.bench --only rollout [--rollout-sizes 2,3,5] [--rollout-half 4]
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet.layout import GROUP, docker_url
from tests.bench import rollout_timing as timing
from tests.bench.fleetgroup import EXTERNAL, SECRET_ENV, Group, ProdEnv, Timed, cli, client, write_prod_env
from tests.bench.report import Report, seconds
from tests.bench.world import Sandbox, delete_path, put_parameters, remove_project

RATIO = 1.15
HALF = (0.4, 0.6)  # "about half"
SLACK = 5.0  # seconds a rollback may take beyond its floor
VERSIONS = ("1.4.0", "1.5.0")


@dataclass
class Bench:
    report: Report
    group: Group
    env: ProdEnv
    state: Path
    environ: dict[str, str]
    floor: timing.Floor
    version: str = VERSIONS[0]

    def apply(self) -> Timed:
        return cli(["apply", str(self.env.root), "--sandbox", "--state-dir", str(self.state), "--auto-approve"],
                   self.environ)  # fmt: skip

    def converge(self) -> None:
        code, out = self.apply().wait()
        if code != 0:
            raise RuntimeError(f"apply exited {code}:\n{out[-3000:]}")

    def bump(self) -> tuple[timing.Rollout, Timed]:
        self.version = next(v for v in VERSIONS if v != self.version)
        self.env.set_tag(self.version)
        run = self.apply()
        code, out = run.wait()
        if code != 0:
            raise RuntimeError(f"apply exited {code}:\n" + "\n".join(t for _, t in run.lines[-20:]))
        return timing.rollout(run.lines, out), run


def _row(bench: Bench, n: int, batch: str, r: timing.Rollout, run: Timed) -> float:
    floor = r.floor(bench.floor)
    recreate = ", ".join(f"{b.recreate:.2f}" for b in r.batches)
    plan_s = (timing.first(run.lines, r"^instance:\S+/leave: leaving") or run.started) - run.started
    bare = floor - len(r.batches) * bench.floor.registration
    bench.report.line(f"N={n} batch {batch:>3}: {len(r.batches)} batch(es), rollout {seconds(r.span)}, floor "
                      f"{seconds(floor)}, ratio {r.span / floor:.2f} (recreate per batch: {recreate} s; "
                      f"{r.span / bare:.2f} against a floor without the registration delay; process start + "
                      f"observe + plan before the rollout {plan_s:.1f} s, with it "
                      f"{(r.span + plan_s) / floor:.2f} x)")  # fmt: skip
    return r.span / floor


def _rollouts(bench: Bench, sizes: list[int], half: int) -> None:
    f = bench.floor
    bench.report.line(f"floor per batch: drain {f.drain:g} s (deregistration delay) + the batch's recreate "
                      f"(measured) + {f.health:g} s in service (registration {f.registration:g} s + "
                      f"{f.healthy_threshold} x {f.interval:g} s checks)")  # fmt: skip
    ratios: dict[tuple[int, str], float] = {}
    spans: dict[tuple[int, str], float] = {}
    for n in sorted({*sizes, half}):
        bench.group.scale(n)
        bench.converge()
        r, run = bench.bump()
        ratios[n, "1"], spans[n, "1"] = _row(bench, n, "1", r, run), r.span
        if n == half:
            bench.env.set_rollout(batch="50%")
            r, run = bench.bump()
            ratios[n, "50%"], spans[n, "50%"] = _row(bench, n, "50%", r, run), r.span
            bench.env.set_rollout(batch=1)
    for n in sizes:
        ratio = ratios[n, "1"]
        bench.report.target(f"rolling deploy of {n} (batch 1) vs its floor", f"{ratio:.2f} x", f"<= {RATIO}",
                            ratio <= RATIO)  # fmt: skip
    share = spans[half, "50%"] / spans[half, "1"]
    bench.report.target(f'batch "50%" vs batch 1 on {half} instances', f"{share:.2f} x",
                        f"about half ({HALF[0]}-{HALF[1]})", HALF[0] <= share <= HALF[1])  # fmt: skip


class Loop:
    """A git repository holding the copy at environments/prod, and ticks of ``reconciler run --once``."""

    def __init__(self, bench: Bench, root: Path) -> None:
        self.bench = bench
        self.bare, self.clone = root / "remote.git", root / "clone"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.clone)], check=True, capture_output=True)
        for key, value in (("user.email", "bench@example.com"), ("user.name", "Bench")):
            self.git("config", key, value)
        self.git("checkout", "-q", "-b", "main")
        shutil.copytree(bench.env.root, self.clone / "environments" / "prod")
        self.env = ProdEnv(self.clone / "environments" / "prod", bench.env.prefix, bench.env.project)
        self.commit("pop-con prod")

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.clone, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "HEAD:main")

    def tick(self) -> Timed:
        return cli(["run", "--repo", str(self.bare), "--path", "environments/prod", "--sandbox", "--state-dir",
                    str(self.bench.state), "--once", "--log-format", "text"], self.bench.environ)  # fmt: skip


def _rollback(bench: Bench, name: str, run: Timed, failed: float) -> None:
    code, _ = run.wait()
    back = timing.last(run.lines, r"^instance:\S+/join: done")
    start = timing.first(run.lines, r"rolling \S+ back to")
    if code != 1 or back is None or start is None or back < failed:
        raise RuntimeError(f"{name}: no rollback seen (exit {code}):\n" + "\n".join(t for _, t in run.lines[-20:]))
    after = [(t, text) for t, text in run.lines if t >= start]
    took = timing.recreates(after)
    floor = sum(bench.floor.drain + r + bench.floor.health for r in took.values())
    span = back - failed
    bench.report.line(f"{name}: back on the last good version {seconds(span)} after the failure; the rollback "
                      f"changed {len(took)} instance(s), floor {seconds(floor)}")  # fmt: skip
    bench.report.target(f"{name} -> every instance back", seconds(span), f"<= floor + {SLACK:g} s "
                        f"({seconds(floor + SLACK)})", span <= floor + SLACK)  # fmt: skip


def _rollbacks(bench: Bench, loop: Loop) -> None:
    code, _ = loop.tick().wait()  # in sync: the loop records the commit as applied
    if code != 0:
        raise RuntimeError(f"the first tick exited {code}")
    good = bench.version
    loop.env.set_tag("broken")
    loop.commit("frontend broken")
    run = loop.tick()
    _rollback(bench, "failed health gate", run, run.wait_for(r"^instance:\S+/health: failed"))

    cw = client(bench.group.info, "cloudwatch")
    loop.env.set_tag(next(v for v in VERSIONS if v != good))
    loop.commit("frontend bumped")
    run = loop.tick()
    run.wait_for(r"^instance:\S+/join: joining")  # the check after batch 1 finds it
    cw.set_alarm_state(AlarmName=GROUP.alarms[0], StateValue="ALARM", StateReason="bench")
    try:
        _rollback(bench, "alarm after batch 1", run, run.wait_for(r"^fleet:\S+/alarms/\d+: failed"))
    finally:
        cw.set_alarm_state(AlarmName=GROUP.alarms[0], StateValue="OK", StateReason="bench")
    loop.env.set_tag(good)
    loop.commit("frontend back")
    code, _ = loop.tick().wait()
    if code != 0:
        raise RuntimeError(f"the fixing tick exited {code}")


def _idle_tick(bench: Bench, loop: Loop, sandbox: Sandbox) -> None:
    from reconciler import app
    from reconciler.app.statestore import open_state_store
    from reconciler.loop import GitRevisions, work_dir
    from reconciler.loop.tick import LoopOptions, Ticker
    from reconciler.sandbox import layout
    from reconciler.state import Result, Trigger

    os.environ[SECRET_ENV] = bench.environ[SECRET_ENV]
    overrides = layout.overrides(state_dir=bench.state)
    options = LoopOptions(repo=f"file://{loop.bare}", path="environments/prod", interval=60.0, overrides=overrides)
    folder = work_dir(bench.state, options)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    contexts: list[app.EnvironmentContext] = []
    real = app.open_environment

    def spy(*args: Any, **kwargs: Any) -> app.EnvironmentContext:
        contexts.append(real(*args, **kwargs))
        return contexts[-1]

    source = GitRevisions(options.repo, options.branch, folder / "mirror")
    ticker = Ticker(options, source, folder, open_world=spy, open_store=open_state_store,
                    owner_command="bench idle tick", say=lambda _line: None, on_event=lambda _event: None)  # fmt: skip
    ticker.tick(Trigger.POLL, "bench warm-up")
    contexts.clear()
    outcome = ticker.tick(Trigger.POLL, "bench idle tick")
    if outcome.result is not Result.NO_CHANGE or len(contexts) != 1:
        raise RuntimeError(f"an idle tick should find nothing to do: {outcome}")
    calls = Counter({f"{s}:{op}": k for (s, op), k in contexts[0].world.counters.aws.calls.items()})
    names = [p for page in sandbox.ssm.get_paginator("get_parameters_by_path").paginate(
        Path=bench.env.prefix, Recursive=True) for p in page["Parameters"]]  # fmt: skip
    pages = len(names) // 10 + 1 if len(names) % 10 == 0 else -(-len(names) // 10)
    want = {"ssm:GetParametersByPath": pages, "autoscaling:DescribeAutoScalingGroups": 1,
            "elasticloadbalancing:DescribeTargetHealth": 1, "monitoring:DescribeAlarms": 1}  # fmt: skip
    bench.report.line(f"idle tick with a fleet of 2 and {len(names)} parameters: "
                      + ", ".join(f"{k} {n}" for k, n in sorted(calls.items())))  # fmt: skip
    bench.report.target("AWS calls of an idle tick with a fleet", str(sum(calls.values())),
                        f"{sum(want.values())}: " + ", ".join(f"{k} {n}" for k, n in want.items()),
                        dict(calls) == want)  # fmt: skip


def _clear(group: Group, project: str) -> None:
    for instance in group.instances():
        api = connect(docker_url(group.address(instance)), timeout=30)
        try:
            with contextlib.suppress(Exception):
                remove_project(api, project)
        finally:
            api.close()


def run(report: Report, sandbox: Sandbox, work: Path, *, sizes: list[int], half: int,
        cleanup: contextlib.ExitStack) -> None:  # fmt: skip
    report.section("rollout", f"rolling deploys over the sandbox's fleet (N = {', '.join(map(str, sizes))}; "
                              f'"50%" on {half}), rollbacks, an idle tick\'s AWS calls')  # fmt: skip
    if not sandbox.info.load_balancer:
        report.line("the sandbox runs no fleet (RECONCILER_SANDBOX_FLEET=0?): skipped")
        return
    uid = uuid.uuid4().hex[:6]
    work.mkdir(parents=True, exist_ok=True)
    cleanup.callback(shutil.rmtree, work, True)
    group = Group(sandbox.info)
    env = write_prod_env(work / "prod", uid)
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": ("SecureString", secrets.token_hex(8)) for k in EXTERNAL})
    cleanup.callback(delete_path, sandbox.ssm, env.prefix)
    cleanup.callback(group.restore)
    cleanup.callback(_clear, group, env.project)
    environ = {SECRET_ENV: "bench-" + secrets.token_hex(6)}
    bench = Bench(report, group, env, work / "state", environ, group.floor())
    _rollouts(bench, sizes, half)
    group.scale(GROUP.desired)
    loop = Loop(bench, work / "git")
    _rollbacks(bench, loop)
    _idle_tick(bench, loop, sandbox)
