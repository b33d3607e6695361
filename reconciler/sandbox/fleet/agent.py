"""The fleet agent: a process that keeps the instances' engines and the load balancer converged to moto. Does I/O.

``python -m reconciler.sandbox.fleet.agent --state-dir D --moto-url U
--registry-port P --lb-port L`` (started by ``reconciler sandbox up``, its
pidfile ``<state dir>/fleet-agent.pid``, stopped by ``down``) looks at moto
through the AWS front (``U``: the groups as AWS shows them, see
:mod:`reconciler.sandbox.asg`) every :data:`~.layout.POLL_INTERVAL` seconds: it gives every running instance
of the fleet's groups an engine and removes the engines of the instances
that are gone (:mod:`.converge`), and makes the load balancer follow the
target groups' registrations (:mod:`.balancer`). It logs one line per change
and per failure (moto unreachable, an engine that would not start), never
stops on one, and exits on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from reconciler.sandbox import moto
from reconciler.sandbox.fleet import balancer, converge, view
from reconciler.sandbox.fleet.layout import GROUPS, POLL_INTERVAL, FleetFiles
from reconciler.sandbox.processes import Clock

MODULE = "reconciler.sandbox.fleet.agent"  # in the agent's command line (how its pidfile is checked)


@dataclass(frozen=True)
class AgentSettings:
    state_dir: Path
    moto_url: str
    registry_port: int
    lb_port: int

    def argv(self, python: str) -> list[str]:
        return [python, "-m", MODULE, "--state-dir", str(self.state_dir), "--moto-url", self.moto_url,
                "--registry-port", str(self.registry_port), "--lb-port", str(self.lb_port)]  # fmt: skip


def log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", flush=True)


def run(settings: AgentSettings, stop: threading.Event, clock: Clock | None = None) -> None:
    """Converge until ``stop`` is set."""
    clock = clock or Clock()
    files = FleetFiles(settings.state_dir)
    follower = balancer.Follower(files, settings.lb_port, clock)
    last_failure = ""
    with moto.clients(settings.moto_url) as clients:
        while not stop.is_set():
            try:
                views = [view.read(clients, g.name) for g in GROUPS]
                converge.engines(files, views, settings.registry_port, clock, log)
                follower.follow(views, log)
                last_failure = ""
            except Exception as e:  # a daemon: report, then look again
                failure = f"{type(e).__name__}: {e}"
                if failure != last_failure:
                    log(f"fleet: could not converge ({failure}); trying again")
                last_failure = failure
            stop.wait(POLL_INTERVAL)
    log("fleet agent: stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--moto-url", required=True)
    parser.add_argument("--registry-port", type=int, required=True)
    parser.add_argument("--lb-port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = AgentSettings(args.state_dir.absolute(), args.moto_url, args.registry_port, args.lb_port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"fleet agent: following {', '.join(g.name for g in GROUPS)} on {settings.moto_url}")
    run(settings, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
