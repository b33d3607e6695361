"""reconciler apply vs the deploy.sh replica, on the pop-con dev stack, four scenarios.

Each side has its own Compose project, frontend port and SSM path (same
compose file, images and parameter values), so runs alternate freely:
reconciler, deploy.sh, reconciler, deploy.sh... and each scenario's medians
and ratio are printed with the services whose container ID changed on each
side (they must be the same).

Fairness (see also deploy.sh and README's benchmark section):
* SSM: both sides start from the same state. The parameters exist before the
  first deploy (terraform wrote them for deploy.sh; for the reconciler they
  carry its ownership tag, as a previous apply leaves them), so in three
  scenarios the reconciler has nothing to write, and the bench checks it.
* one parameter changed: the reconciler gets the new value in its spec and
  writes it (one paced PutParameter, in its time); deploy.sh's side has it
  written out-of-band (terraform's part in pop-con) by one unpaced boto3 call
  from the harness, counted in deploy.sh's time.
* one image tag bumped: the reconciler's images.yaml and deploy.sh's compose
  file get the same new tag (both a git change).
* first deploy from nothing: the project's containers, networks and volumes
  (and the reconciler's state dir) are removed before each run, untimed; the
  images stay on the engine (pulled before, on both sides alike).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.core.model import ENVIRONMENT_KEY, OWNER_KEY
from tests.bench import measure, popcon
from tests.bench.report import Report, mark, seconds
from tests.bench.world import Sandbox, containers, delete_path, environments, put_parameters, remove_project

DEPLOY_SH = Path(__file__).with_name("deploy.sh")
SCENARIOS: dict[str, str] = {
    "first": "first deploy from nothing",
    "nochange": "no change",
    "tag": "one image tag bumped",
    "param": "one parameter changed",
}
TAG_IMAGE = "backend"  # the image whose tag is bumped
PARAMETER = "DB_NAME"  # read by mysql and backend
RATIO_TARGET = {"nochange": 0.5}  # else 1.0


@dataclass(frozen=True)
class Sample:
    wall_s: float
    out_of_band_s: float = 0.0  # part of wall_s spent writing SSM for deploy.sh


class Side(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def project(self) -> str: ...

    def teardown(self) -> None: ...
    def set_tag(self, image: str, tag: str) -> None: ...
    def set_parameter(self, name: str, value: str) -> None: ...
    def deploy(self) -> Sample: ...


@dataclass
class ReconcilerSide:
    sandbox: Sandbox
    env: popcon.ReconcilerEnv
    state_dir: Path
    name: str = "reconciler"

    @property
    def project(self) -> str:
        return self.env.project

    def teardown(self) -> None:
        remove_project(self.sandbox.docker, self.project)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def set_tag(self, image: str, tag: str) -> None:
        self.env.set_tag(image, tag)

    def set_parameter(self, name: str, value: str) -> None:
        self.env.set_parameter(name, value)

    def _cli(self, *args: str) -> measure.Run:
        argv = measure.reconciler(*args, str(self.env.root), "--no-color", "--state-dir", str(self.state_dir))
        return measure.run(argv, env=measure.child_env(self.sandbox.aws_env()))

    def deploy(self) -> Sample:
        return Sample(self._cli("apply", "--auto-approve").check().wall_s)

    def planned_parameter_writes(self) -> list[str]:
        """Addresses of the parameter actions the reconciler would take now."""
        doc = json.loads(self._cli("plan", "--format", "json").check().stdout)
        return [c["address"] for c in doc["resource_changes"] if "parameter" in c["kind"]]


@dataclass
class ScriptSide:
    sandbox: Sandbox
    dir: popcon.ScriptDir
    docker_config: Path
    aws: str  # "python" (boto3 stand-in) or "cli"
    name: str = "deploy.sh"
    pending: dict[str, str] = field(default_factory=dict)  # out-of-band SSM writes before the next run

    @property
    def project(self) -> str:
        return self.dir.project

    def teardown(self) -> None:
        remove_project(self.sandbox.docker, self.project)

    def set_tag(self, image: str, tag: str) -> None:
        self.dir.set_tag(image, tag)

    def set_parameter(self, name: str, value: str) -> None:
        self.pending[name] = value

    def deploy(self) -> Sample:
        start = time.perf_counter()
        wrote = bool(self.pending)
        for name, value in self.pending.items():
            type_ = self.dir.stack.parameters[name][0]
            self.sandbox.ssm.put_parameter(Name=f"{self.dir.prefix}/{name}", Value=value, Type=type_, Overwrite=True)  # type: ignore[arg-type]
        self.pending.clear()
        written = time.perf_counter() - start if wrote else 0.0
        env = measure.child_env({
            **self.sandbox.aws_env(),
            "SSM_PATH": self.dir.prefix,
            "REGISTRY": self.dir.registry,
            "COMPOSE_PROJECT_NAME": self.project,
            "DOCKER_CONFIG": str(self.docker_config),
            "PYTHON": sys.executable,
            "BENCH_AWS": self.aws,
        })  # fmt: skip
        run = measure.run(["bash", str(DEPLOY_SH)], env=env, cwd=self.dir.root).check()
        return Sample(written + run.wall_s, written)


@dataclass
class Outcome:
    samples: dict[str, list[Sample]] = field(default_factory=dict)  # side -> runs
    changed: dict[str, list[frozenset[str]]] = field(default_factory=dict)  # side -> per run
    ids: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # side -> service -> (before, after)

    def median(self, side: str) -> float:
        return measure.median([s.wall_s for s in self.samples.get(side, [])])


def _toggle(current: str, original: str, alternative: str) -> str:
    return alternative if current == original else original


def _alternative_tag(sandbox: Sandbox, repository: str, tag: str) -> str | None:
    tags = sorted(ref.split(":", 1)[1] for ref in sandbox.info.images if ref.split(":", 1)[0] == repository)
    return next((t for t in tags if t != tag), None)


def _changed(before: dict[str, str], after: dict[str, str]) -> frozenset[str]:
    return frozenset(s for s in before.keys() | after.keys() if before.get(s) != after.get(s))


def _transition(service: str, before: str, after: str) -> str:
    if before == "-":
        return f"{service} created {after}"
    if after == "-":
        return f"{service} removed {before}"
    return f"{service} {before}->{after}"


def _names(services: frozenset[str]) -> str:
    return ", ".join(sorted(services)) or "none"


def _setup(sandbox: Sandbox, work: Path, aws: str, cleanup: contextlib.ExitStack) -> tuple[ReconcilerSide, ScriptSide]:
    uid = uuid.uuid4().hex[:6]
    stack = popcon.Stack.read()
    info = sandbox.info
    root = f"/bench-{uid}"
    cleanup.callback(delete_path, sandbox.ssm, root)
    env = popcon.write_reconciler_env(
        work / "reconciler", name=f"bench-{uid}", prefix=f"{root}/reconciler", ownership=f"bench-{uid}",
        project=f"bench-{uid}-reconciler", moto_url=info.moto_url, registry=info.registry,
    )  # fmt: skip
    script = popcon.write_script_dir(
        work / "deploy-sh", stack=stack, prefix=f"{root}/deploy-sh", project=f"bench-{uid}-deploy-sh",
        registry=info.registry,
    )  # fmt: skip
    rec = ReconcilerSide(sandbox, env, work / "reconciler-state")
    sh = ScriptSide(sandbox, script, work / "docker-config", aws)
    for side in (rec, sh):
        cleanup.callback(remove_project, sandbox.docker, side.project)
    secrets = {name: ("SecureString", value) for name, value in popcon.secret_values(stack).items()}
    owned = {OWNER_KEY: env.ownership, ENVIRONMENT_KEY: env.name}
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": v for k, v in stack.parameters.items()}, owned)
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": v for k, v in secrets.items()})
    put_parameters(sandbox.ssm, {f"{script.prefix}/{k}": v for k, v in {**stack.parameters, **secrets}.items()})
    return rec, sh


def _run_scenario(
    report: Report, scenario: str, sides: tuple[Side, ...], runs: int, sandbox: Sandbox, state: dict[str, str]
) -> Outcome:
    outcome = Outcome()
    for k in range(runs):
        line = []
        for side in sides:
            if scenario == "first":
                side.teardown()
            elif scenario == "tag":
                key = f"{side.name}:tag"
                state[key] = _toggle(state[key], state["tag"], state["alt_tag"])
                side.set_tag(TAG_IMAGE, state[key])
            elif scenario == "param":
                key = f"{side.name}:param"
                state[key] = _toggle(state[key], state["param"], state["param"] + "_b")
                side.set_parameter(PARAMETER, state[key])
            before = containers(sandbox.docker, side.project)
            sample = side.deploy()
            after = containers(sandbox.docker, side.project)
            changed = _changed(before, after)
            outcome.samples.setdefault(side.name, []).append(sample)
            outcome.changed.setdefault(side.name, []).append(changed)
            outcome.ids[side.name] = {s: (before.get(s, "-")[:12], after.get(s, "-")[:12]) for s in sorted(changed)}
            line.append(f"{side.name} {sample.wall_s:6.2f} s ({_names(changed)})")
        report.line(f"run {k + 1}/{runs}: " + "   ".join(line))
    return outcome


def _print_outcome(report: Report, scenario: str, outcome: Outcome, sides: tuple[Side, ...]) -> None:
    rec, sh = (side.name for side in sides)
    for side in sides:
        recreated = set(outcome.changed[side.name])
        stable = "" if len(recreated) == 1 else "  (NOT the same in every run!)"
        ids = ", ".join(_transition(s, b, a) for s, (b, a) in outcome.ids[side.name].items()) or "none"
        report.line(f"{side.name:<10} containers changed (last run): {ids}{stable}")
    same = set(outcome.changed[rec]) == set(outcome.changed[sh])
    report.line(f"same services recreated on both sides: {'yes' if same else 'NO'}")
    oob = [s.out_of_band_s for s in outcome.samples[sh] if s.out_of_band_s]
    if oob:
        ms = measure.median(oob) * 1000
        report.line(f"deploy.sh's time includes the out-of-band PutParameter: median {ms:.0f} ms")
    ratio = outcome.median(rec) / outcome.median(sh)
    limit = RATIO_TARGET.get(scenario, 1.0)
    report.target(
        f"{SCENARIOS[scenario]}: apply/deploy.sh",
        f"{ratio:.2f} ({seconds(outcome.median(rec))} / {seconds(outcome.median(sh))})"
        + ("" if same else ", NOT the same services recreated"),
        f"<= {limit}",
        ratio <= limit and same,
    )


def run(
    report: Report, sandbox: Sandbox, work: Path, *, runs: int, scenarios: list[str], aws: str,
    cleanup: contextlib.ExitStack,
) -> None:  # fmt: skip
    report.section("apply", f"reconciler vs deploy.sh (pop-con dev stack, {runs} alternating runs each, medians)")
    if aws == "cli" and shutil.which("aws") is None:
        raise SystemExit("--deploy-aws cli: no `aws` on PATH")
    rec, sh = _setup(sandbox, work, aws, cleanup)
    sides: tuple[Side, ...] = (rec, sh)
    writes = rec.planned_parameter_writes()
    report.line(f"deploy.sh's SSM calls: {'aws CLI' if aws == 'cli' else 'boto3 stand-in (aws_standin.py)'}; "
                f"registry login: docker login on the unauthenticated local registry")  # fmt: skip
    report.line(f"parameters the reconciler would write from this SSM state: {len(writes)}"
                + (f" (NOT the same state as deploy.sh's: {writes})" if writes else " (as deploy.sh)"))
    stack = popcon.Stack.read()
    tag = stack.images[TAG_IMAGE][1]
    alt = _alternative_tag(sandbox, stack.images[TAG_IMAGE][0], tag)
    param = stack.parameters[PARAMETER][1]
    state = {"tag": tag, "alt_tag": alt or tag, "param": param}
    for side in sides:
        state[f"{side.name}:tag"], state[f"{side.name}:param"] = tag, param
    results: dict[str, Outcome] = {}
    for scenario in [s for s in SCENARIOS if s in scenarios]:
        if scenario == "tag" and alt is None:
            report.line(f"skipped {SCENARIOS[scenario]}: the registry has one tag of {TAG_IMAGE}")
            continue
        label = {"tag": f" ({TAG_IMAGE} {tag} <-> {alt})", "param": f" ({PARAMETER})"}.get(scenario, "")
        report.line()
        report.line(f"-- {SCENARIOS[scenario]}{label}")
        for side in sides:
            if scenario != "first" and not containers(sandbox.docker, side.project):
                side.deploy()  # untimed: the stack must run before the change
        results[scenario] = _run_scenario(report, scenario, sides, runs, sandbox, state)
        _print_outcome(report, scenario, results[scenario], sides)
    _compare_environments(report, sandbox, sides)
    _table(report, results, sides)


def _compare_environments(report: Report, sandbox: Sandbox, sides: tuple[Side, ...]) -> None:
    """The containers' environments, side by side (names only: values may be secrets)."""
    a, b = (environments(sandbox.docker, side.project) for side in sides)
    differing: dict[str, set[str]] = {}
    for service in a.keys() | b.keys():
        names = {e.split("=", 1)[0] for e in a.get(service, frozenset()) ^ b.get(service, frozenset())}
        if names:
            differing[service] = names
    if not differing:
        report.line("container environments (every service): identical on both sides")
    else:
        report.line(f"container environments differ: { {s: sorted(n) for s, n in sorted(differing.items())} }")


def _table(report: Report, results: dict[str, Outcome], sides: tuple[Side, ...]) -> None:
    rec, sh = (side.name for side in sides)
    report.line()
    report.line(f"{'scenario':<28} {'reconciler':>11} {'deploy.sh':>10} {'ratio':>6} {'target':>7}")
    for scenario, outcome in results.items():
        ratio = outcome.median(rec) / outcome.median(sh)
        limit = RATIO_TARGET.get(scenario, 1.0)
        report.line(f"{SCENARIOS[scenario]:<28} {outcome.median(rec):>9.2f} s {outcome.median(sh):>8.2f} s "
                    f"{ratio:>6.2f} {'<= ' + str(limit):>7} {mark(ratio <= limit)}")  # fmt: skip
