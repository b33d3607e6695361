"""``make bench``: the report of issue 8, every figure next to its target. Not a test.

    python -m tests.bench [--only apply,scale,...,operate,rollout] [--runs 5] ...

Sections (all by default, in this order):
  apply     reconciler apply vs the deploy.sh replica, four scenarios (apply_vs_script)
  scale     validate and plan at N parameters x S services: CPU, peak memory (scale)
  render    text and JSON rendering of the largest first-deploy plan (scale)
  startup   `reconciler --help` vs `python -c pass` (startup)
  calls     AWS calls of an apply with C changed parameters (calls)
  nochange  calls and time of a no-change reconcile at N parameters (nochange)
  gitops    the GitOps loop: commit-to-converged latency (local repository, signed webhook,
            polling) and the calls of an idle tick (gitops)
  comment   the pull-request comment of a 10,000-parameter plan: create, edit, unchanged,
            each beyond the plan itself (comment; the local GitHub API of tests/prcomment)
  operate   notifications' cost per tick and a /metrics scrape (operate)
  rollout   rolling deploys over the sandbox's fleet against their floor (N = 2, 3, 5; batch 50%
            on 4), rollbacks from a failed gate and an alarm, an idle tick's AWS calls (rollout)
  rotation  a new launch template version rotating N instances under the launch hook against
            its floor (N = 2, 3; rotation)
  ssh       Docker over ssh to the fleet's engines, one connection per call vs reused: a call, an
            observe of environments/prod on 2 instances, `reconciler plan` (sshreuse)

Everything it creates (SSM parameters, containers, networks, volumes, temp
dirs, git repositories, `reconciler run` loops) is removed at the end, on an error and on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from reconciler.sandbox.layout import default_state_dir
from reconciler.sandbox.lifecycle import up
from tests.bench import (
    apply_vs_script,
    calls,
    comment,
    gitops,
    nochange,
    operate,
    rollout,
    rotation,
    scale,
    sshreuse,
    startup,
)
from tests.bench.report import Report
from tests.bench.world import Sandbox

SECTIONS = (
    "apply", "scale", "render", "startup", "calls", "nochange", "gitops", "comment", "operate", "rollout",
    "rotation", "ssh",
)  # fmt: skip


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    p.add_argument("--runs", type=int, default=5, help="apply: runs per side and scenario (default 5)")
    p.add_argument("--scenarios", default=",".join(apply_vs_script.SCENARIOS),
                   help="apply: " + ", ".join(apply_vs_script.SCENARIOS))  # fmt: skip
    p.add_argument("--deploy-aws", choices=("python", "cli"), default="python",
                   help="deploy.sh's SSM/ECR calls: boto3 stand-in (default) or the real `aws` CLI")  # fmt: skip
    p.add_argument("--params", type=_ints, default=[1000, 10000], help="scale: N parameters (default 1000,10000)")
    p.add_argument("--services", type=_ints, default=[20, 100, 300], help="scale: S services (default 20,100,300)")
    p.add_argument("--repeat", type=int, default=3, help="scale/render: runs per command (median; default 3)")
    p.add_argument("--startup-runs", type=int, default=10, help="startup: runs of each (median; default 10)")
    p.add_argument("--changed", type=_ints, default=[10, 100], help="calls: C changed parameters (default 10,100)")
    p.add_argument("--calls-params", type=int, default=1000, help="calls: N parameters (default 1000)")
    p.add_argument("--sizes", type=_ints, default=[100, 1000, 10000], help="nochange: N parameters")
    p.add_argument("--nochange-services", type=int, default=20, help="nochange: services")
    p.add_argument("--gitops-runs", type=int, default=3, help="gitops: commits per way (median; default 3)")
    p.add_argument("--gitops-ways", default=",".join(gitops.MODES), help="gitops: " + ", ".join(gitops.MODES))
    p.add_argument("--idle-ticks", type=int, default=3, help="gitops: idle ticks counted (default 3; 0: none)")
    p.add_argument("--comment-params", type=int, default=10_000, help="comment: N parameters (default 10000)")
    p.add_argument("--comment-runs", type=int, default=5, help="comment: runs of each (median; default 5)")
    p.add_argument("--rollout-sizes", type=_ints, default=[2, 3, 5], help="rollout: N instances (default 2,3,5)")
    p.add_argument("--rollout-half", type=int, default=4, help='rollout: N for batch "50%%" vs 1 (default 4)')
    p.add_argument("--rotation-sizes", type=_ints, default=[2, 3], help="rotation: N instances (default 2,3)")
    return p


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown section(s): {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)
    report = Report()
    sandbox = Sandbox.connect(up(default_state_dir()))
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    try:
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(shutil.rmtree, work, True)
            cleanup.callback(sandbox.close)
            if "apply" in only:
                scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
                apply_vs_script.run(report, sandbox, work / "apply", runs=args.runs, scenarios=scenarios,
                                    aws=args.deploy_aws, cleanup=cleanup)  # fmt: skip
            if "scale" in only or "render" in only:
                scale.run(report, sandbox, work / "scale", params=args.params, services=args.services,
                          repeat=args.repeat, sections=only)  # fmt: skip
            if "startup" in only:
                startup.run(report, runs=args.startup_runs)
            if "calls" in only:
                calls.run(report, sandbox, work / "calls", n=args.calls_params, changed=args.changed,
                          cleanup=cleanup)  # fmt: skip
            if "nochange" in only:
                nochange.run(report, sandbox.info, work / "nochange", sizes=args.sizes,
                             services=args.nochange_services)  # fmt: skip
            if "gitops" in only:
                ways = [w.strip() for w in args.gitops_ways.split(",") if w.strip()]
                gitops.run(report, sandbox, work / "gitops", runs=args.gitops_runs, modes=ways,
                           idle_ticks=args.idle_ticks, cleanup=cleanup)  # fmt: skip
            if "comment" in only:
                comment.run(report, sandbox, work / "comment", n=args.comment_params, runs=args.comment_runs)
            if "operate" in only:
                operate.run(report)
            if "rollout" in only:
                rollout.run(report, sandbox, work / "rollout", sizes=args.rollout_sizes, half=args.rollout_half,
                            cleanup=cleanup)  # fmt: skip
            if "rotation" in only:
                rotation.run(report, sandbox, work / "rotation", sizes=args.rotation_sizes, cleanup=cleanup)
            if "ssh" in only:
                sshreuse.run(report, sandbox, work / "ssh")
    except KeyboardInterrupt:
        print("\nInterrupted: cleaned up.", file=sys.stderr)
        return 130
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
