"""ssh connection reuse to the fleet's engines (issue 14's follow-up): off against on, on the sandbox's fleet.

Three figures, each with ``RECONCILER_SSH_MULTIPLEX=0`` (one ssh connection per Docker API call, as
docker-py makes them) and with reuse (OpenSSH multiplexing, reconciler/drivers/sshmux.py):

- one Docker call over ssh (a container listing of the first instance): the median of
  :data:`CALLS`, the connection already made (the first call is not counted);
- observing environments/prod on the fleet of 2 in process (AWS, registry, both engines), from
  clients just built: with reuse, "cold" makes the masters and "warm" finds them (a loop's next tick
  within their 60 s); the median of :data:`OBSERVES`;
- ``reconciler plan environments/prod --sandbox`` as a command (its own process, so its masters are
  made anew each time): the median of :data:`PLANS`.

Target: one call with reuse at most half of one without. Nothing is changed (read-only clients).

    python -m tests.bench --only ssh
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.drivers import sshmux
from reconciler.drivers.docker.client import connect
from reconciler.sandbox.fleet.layout import docker_url
from tests.bench.fleetgroup import SECRET_ENV, Group
from tests.bench.report import Report, seconds
from tests.bench.world import Sandbox

CALLS = 20
OBSERVES = 5
PLANS = 3
PROD = Path(__file__).resolve().parents[2] / "environments" / "prod"


@contextmanager
def _reuse(on: bool) -> Iterator[None]:
    """Reuse on or off, with no master left from before (nor after)."""
    saved = os.environ.get(sshmux.ENV)
    sshmux.shared().close()
    if on:
        os.environ.pop(sshmux.ENV, None)
    else:
        os.environ[sshmux.ENV] = "0"
    try:
        yield
    finally:
        sshmux.shared().close()
        if saved is None:
            os.environ.pop(sshmux.ENV, None)
        else:
            os.environ[sshmux.ENV] = saved


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _calls(address: str) -> float:
    api = connect(docker_url(address), timeout=30)
    try:
        api.containers(all=True)
        return statistics.median(_timed(lambda: api.containers(all=True)) for _ in range(CALLS))
    finally:
        api.close()


def _observe(state: Path) -> tuple[float, float]:
    """(cold, warm) seconds of one observe from clients just built."""
    from reconciler.app import open_environment
    from reconciler.sandbox import layout

    def once() -> float:
        context = open_environment(PROD, layout.overrides(state_dir=state), read_only=True)
        try:
            return _timed(lambda: context.world.observe(context.desired))
        finally:
            context.world.close()

    cold: list[float] = []
    warm: list[float] = []
    for _ in range(OBSERVES):
        sshmux.shared().close()
        cold.append(once())
        warm.append(once())
    return statistics.median(cold), statistics.median(warm)


def _plans(state: Path) -> float:
    argv = [sys.executable, "-m", "reconciler.cli", "plan", str(PROD), "--sandbox", "--state-dir", str(state)]
    runs = []
    for _ in range(PLANS):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ))
        runs.append(time.perf_counter() - started)
        if done.returncode not in (0, 2):
            raise RuntimeError(f"plan exited {done.returncode}:\n{done.stderr[-2000:]}")
    return statistics.median(runs)


def run(report: Report, sandbox: Sandbox, work: Path) -> None:
    report.section("ssh", f"Docker over ssh to the fleet's engines: one connection per call vs reused (medians of "
                          f"{CALLS} calls, {OBSERVES} observes, {PLANS} plans)")  # fmt: skip
    if not sandbox.info.load_balancer:
        report.line("the sandbox runs no fleet (RECONCILER_SANDBOX_FLEET=0?): skipped")
        return
    group = Group(sandbox.info)
    address = group.address(group.instances()[0])
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(SECRET_ENV, "bench-ssh")  # environments/prod reads it (plan shows it masked)
    got: dict[bool, tuple[float, float, float, float]] = {}
    for on in (False, True):
        with _reuse(on):
            call = _calls(address)
            cold, warm = _observe(work / "state")
            plan = _plans(work / "state")
        got[on] = (call, cold, warm, plan)
    (off_call, off_cold, off_warm, off_plan), (on_call, on_cold, on_warm, on_plan) = got[False], got[True]
    report.line(f"one Docker call over ssh: {seconds(off_call)} a new connection each, {seconds(on_call)} reused")
    report.line(f"observe of environments/prod on 2 instances: {seconds(off_cold)} / {seconds(off_warm)} without "
                f"reuse; {seconds(on_cold)} making the masters, {seconds(on_warm)} with them made")  # fmt: skip
    report.line(f"reconciler plan environments/prod --sandbox (a process): {seconds(off_plan)} without reuse, "
                f"{seconds(on_plan)} with it")  # fmt: skip
    ratio = on_call / off_call
    report.target("one Docker call over ssh, reused vs not", f"{ratio:.2f} x", "<= 0.5", ratio <= 0.5)
