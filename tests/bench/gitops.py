"""The GitOps loop (`reconciler run`): commit-to-converged latency, and the calls of an idle tick.

Latency, on the sandbox, with a copy of the pop-con dev stack committed in a
git repository (a bare remote and a clone): a commit bumps the backend's tag
(2.2.0 <-> 2.1.0, as the apply section does) and the clock runs until the
engine shows the backend's new container running (and healthy, if it had a
healthcheck) with the new image, polled every 50 ms. Three ways in:

* local: ``run --repo <clone>``: the loop watches the clone's refs; timed from the commit;
* webhook: ``run --repo file://<bare> --interval 10m --listen 127.0.0.1:0``: timed from
  the push, then a signed push event is sent to ``/webhook``;
* poll: ``run --repo file://<bare> --interval 5s``: timed from the push.

The container's own part (create -> running, -> healthy with a healthcheck)
comes from the engine's events and is subtracted for the target; the old
container's stop (kill -> die) is shown beside it. Target (issue 9): under
2 s plus the container's own start and health time (polling: plus up to one
interval and its 10% jitter).

Idle tick, in process: a :class:`reconciler.loop.tick.Ticker` built as
``reconciler run`` builds it, its environment's clients captured by wrapping
``reconciler.app.environment.open_environment`` and its state store by a counting proxy.
Its AWS, registry and Docker calls are printed next to a no-change ``plan``'s
on the same checkout (the observe floor). Target: the floor and nothing else
(the lease is SQLite's: acquire and release, no AWS call).

Loops run in a process group of their own and are stopped (SIGTERM, then
SIGKILL) however the bench ends; containers, networks, volumes, SSM
parameters, git repositories and state dirs are removed.

    python -m tests.bench --only gitops [--gitops-runs 3]
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from reconciler.core.model import ENVIRONMENT_KEY, OWNER_KEY
from tests.bench import measure, popcon
from tests.bench.report import Report, seconds
from tests.bench.world import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    Sandbox,
    containers,
    delete_path,
    put_parameters,
    remove_project,
)

PATH = "environments/dev"
SERVICE = "backend"  # its image tag is bumped; frontend depends on it
MODES: dict[str, str] = {
    "local": "local repository (refs watched), from the commit",
    "webhook": "signed webhook (file:// remote, --interval 10m), from the push",
    "poll": "polling a file:// remote every 5 s, from the push",
}
POLL_INTERVAL = 5.0
JITTER = 0.1  # the loop's interval jitter (reconciler.loop.runner.JITTER)
TARGET_S = 2.0
POLL_EVERY = 0.05
TIMEOUT_S = 120.0


# ---- pure helpers (tests/test_bench_harness.py) -------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """What the engine saw of one recreate, from its events (epoch seconds; None: not seen)."""

    kill: float | None  # the old container's first kill (the stop request)
    die: float | None  # the old container stopped
    create: float | None  # the new container
    start: float | None
    healthy: float | None

    @property
    def own_start(self) -> float | None:
        """The new container's own part: create -> running, -> healthy when it has a healthcheck."""
        if self.create is None or self.start is None:
            return None
        return (self.healthy if self.healthy is not None else self.start) - self.create

    @property
    def old_stop(self) -> float | None:
        return None if self.kill is None or self.die is None else self.die - self.kill


def breakdown(events: Iterable[Mapping[str, Any]], old_id: str | None, new_id: str) -> Breakdown:
    """The recreate of one service from the engine's container events (``timeNano``, ``id``, ``Action``)."""
    first: dict[tuple[str, str], float] = {}
    for e in events:
        if e.get("Type", "container") != "container":
            continue
        action = str(e.get("Action") or e.get("status") or "")
        key = (str(e.get("id") or e.get("Actor", {}).get("ID", "")), action)
        when = int(e["timeNano"]) / 1e9 if "timeNano" in e else float(e.get("time", 0))
        first.setdefault(key, when)
    old = old_id or "-"
    return Breakdown(
        kill=first.get((old, "kill")) or first.get((old, "stop")),
        die=first.get((old, "die")),
        create=first.get((new_id, "create")),
        start=first.get((new_id, "start")),
        healthy=first.get((new_id, "health_status: healthy")),
    )


def listening_url(line: str) -> str | None:
    """The listener's address from the loop's ``listening on http://HOST:PORT`` line."""
    found = re.search(r"listening on (http://[\w.\[\]:-]+:\d+)", line)
    return found.group(1) if found else None


def calls_of(counters: Any) -> dict[str, int]:
    """The AWS, registry and Docker calls of a World's counters, ``group call -> count``."""
    out: dict[str, int] = {}
    for (service, op), k in counters.aws.calls.items():
        out[f"aws {service}:{op}"] = k
    for (method, host), k in counters.registry.calls.items():
        out[f"registry {method} {host}"] = k
    for (method, path), k in counters.docker.calls.items():
        out[f"docker {method} {path}"] = k
    return dict(sorted(out.items()))


def beyond(calls: Mapping[str, int], floor: Mapping[str, int]) -> dict[str, int]:
    """The calls (by count) that ``calls`` makes beyond ``floor``."""
    extra = Counter(calls)
    extra.subtract(floor)
    return {k: n for k, n in sorted(extra.items()) if n > 0}


# ---- git ---------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Repo:
    bare: Path
    clone: Path

    def commit(self, message: str) -> str:
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "-q", "-m", message)
        return git(self.clone, "rev-parse", "HEAD")

    def push(self) -> None:
        git(self.clone, "push", "-q", "origin", "main")


def make_repo(root: Path, sandbox: Sandbox, uid: str) -> tuple[Repo, popcon.ReconcilerEnv]:
    """A bare remote and a clone whose environments/dev is a unique copy of the dev stack, pushed."""
    bare, clone = root / "remote.git", root / "clone"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    git(clone, "config", "user.email", "bench@example.com")
    git(clone, "config", "user.name", "Bench")
    git(clone, "config", "commit.gpgsign", "false")
    git(clone, "checkout", "-q", "-b", "main")
    env = popcon.write_reconciler_env(
        clone / PATH, name=f"bench-{uid}", prefix=f"/bench-{uid}/gitops", ownership=f"bench-{uid}",
        project=f"bench-{uid}-gitops", moto_url=sandbox.info.moto_url, registry=sandbox.info.registry,
    )  # fmt: skip
    repo = Repo(bare, clone)
    repo.commit("pop-con dev (bench)")
    repo.push()
    return repo, env


# ---- the loop as a child process ---------------------------------------------------------------


@dataclass
class LoopProcess:
    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)  # (arrival, line) of stderr
    reader: threading.Thread | None = None

    def output(self, last: int = 30) -> str:
        return "\n".join(line for _, line in self.lines[-last:])

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = TIMEOUT_S) -> tuple[int, re.Match[str]]:
        """The first stderr line (index >= ``after``) matching ``pattern``; its index and match."""
        deadline = time.monotonic() + timeout
        seen = after
        while time.monotonic() < deadline:
            lines = list(self.lines)
            for i in range(seen, len(lines)):
                found = re.search(pattern, lines[i][1])
                if found:
                    return i, found
            seen = len(lines)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the loop printed no line matching {pattern!r} within {timeout:g}s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM to its process group (it ends after the tick in progress), SIGKILL after 30 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # what it left behind in its group (git, compose)
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def start_loop(repo: str, state_dir: Path, args: list[str], env: Mapping[str, str]) -> LoopProcess:
    argv = measure.reconciler("run", "--repo", repo, "--path", PATH, "--sandbox", "--state-dir", str(state_dir),
                              "--no-color", "--log-format", "text", *args)  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env=dict(env), start_new_session=True)  # fmt: skip
    loop = LoopProcess(proc)

    def read() -> None:
        assert proc.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stderr:
                loop.lines.append((time.time(), line.rstrip("\n")))

    loop.reader = threading.Thread(target=read, name="bench-loop-stderr", daemon=True)
    loop.reader.start()
    return loop


# ---- one measured commit ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    latency_s: float  # commit (or push) -> the new container running (healthy)
    engine: Breakdown
    t0: float
    tick_s: float  # the tick's own duration as the loop logs it (0.1 s resolution)
    tick_logged: float  # when its line arrived (epoch seconds)

    @property
    def woke_s(self) -> float:
        """Commit (push) -> the tick started, approximately: its line's arrival minus its duration."""
        return self.tick_logged - self.tick_s - self.t0

    @property
    def own_start_s(self) -> float:
        return self.engine.own_start or 0.0

    @property
    def beyond_own_s(self) -> float:
        return self.latency_s - self.own_start_s


def wait_new_container(sandbox: Sandbox, project: str, old_id: str | None, digest: str, timeout: float) -> str:
    """Polls the engine every 50 ms until the service's container is a new one, running (and healthy,
    with a healthcheck), from ``digest``; its id."""
    client = sandbox.docker
    labels = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={SERVICE}"]
    right: dict[str, bool] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in client.containers(filters={"label": labels, "status": "running"}):
            cid = c["Id"]
            if cid == old_id:
                continue
            if cid not in right:
                right[cid] = str(client.inspect_container(cid)["Config"]["Image"]).endswith(digest)
            if not right[cid]:
                continue
            if "(health" in str(c.get("Status", "")) and "(healthy)" not in str(c.get("Status", "")):
                continue  # a healthcheck that has not passed yet
            return str(cid)
        time.sleep(POLL_EVERY)
    raise RuntimeError(f"{project}/{SERVICE}: no new running container from {digest[:19]} within {timeout:g}s")


def engine_events(sandbox: Sandbox, project: str, since: float) -> list[dict[str, Any]]:
    """The project's container events from ``since`` until now (a finite query)."""
    stream = sandbox.docker.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                                   filters={"type": "container", "label": f"{PROJECT_LABEL}={project}"})  # fmt: skip
    return [e for e in stream if float(e.get("timeNano", 0)) / 1e9 >= since]


@dataclass
class Bench:
    sandbox: Sandbox
    repo: Repo
    env: popcon.ReconcilerEnv
    state_dir: Path
    child_env: dict[str, str]
    tags: tuple[str, str]  # the backend's tag now, the other one
    cleanup: contextlib.ExitStack

    def digest(self, tag: str) -> str:
        repository = popcon.Stack.read(self.env.root).images[SERVICE][0]
        return self.sandbox.info.images[f"{repository}:{tag}"]

    def loop(self, repo: str, args: list[str], extra: Mapping[str, str] | None = None) -> LoopProcess:
        loop = start_loop(repo, self.state_dir, args, {**self.child_env, **(extra or {})})
        self.cleanup.callback(loop.stop)
        return loop

    def bump(self) -> str:
        """Edits images.yaml in the clone (not committed yet); the new tag."""
        now, other = self.tags
        self.env.set_tag(SERVICE, other)
        self.tags = (other, now)
        return other

    def measure(self, loop: LoopProcess, mode: str, send: Callable[[str], None] | None) -> Sample:
        project = self.env.project
        old_id = containers(self.sandbox.docker, project).get(SERVICE)
        tag = self.bump()
        digest = self.digest(tag)
        mark = len(loop.lines)
        sha = self.repo.commit(f"{SERVICE} {tag}")
        if mode != "local":
            self.repo.push()
        t0 = time.time()
        if send is not None:
            send(sha)
        new_id = wait_new_container(self.sandbox, project, old_id, digest, TIMEOUT_S)
        latency = time.time() - t0
        index, done = loop.wait_for(rf"tick \d+ .* at {sha[:12]}: (\S+) in ([\d.]+)s", after=mark)
        if done.group(1) != "applied":
            raise RuntimeError(f"the tick of {sha[:12]} ended {done.group(1)}:\n{loop.output()}")
        if mode == "local":
            self.repo.push()  # untimed: keeps the remote at the clone's head for the next mode
        events = engine_events(self.sandbox, project, t0 - 1)
        engine = breakdown(events, old_id, new_id)
        return Sample(latency, engine, t0, float(done.group(2)), loop.lines[index][0])


def _converged(loop: LoopProcess, timeout: float = 240) -> None:
    """The loop's first tick ended applied or no-change."""
    _, found = loop.wait_for(r"tick 1 .*: (\S+) in [\d.]+s", timeout=timeout)
    if found.group(1) not in ("applied", "no-change"):
        raise RuntimeError(f"the loop's first tick ended {found.group(1)}:\n{loop.output()}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _latency(report: Report, bench: Bench, mode: str, runs: int) -> list[Sample]:
    report.line()
    report.line(f"-- {MODES[mode]}")
    send: Callable[[str], None] | None = None
    if mode == "local":
        loop = bench.loop(str(bench.repo.clone), ["--interval", "10m"])
    elif mode == "webhook":
        secret = secrets.token_hex(16)
        loop = bench.loop(f"file://{bench.repo.bare}", ["--interval", "10m", "--listen", "127.0.0.1:0"],
                          {"RECONCILER_WEBHOOK_SECRET": secret})  # fmt: skip
        _, found = loop.wait_for(r"listening on (http://\S+)")
        url = listening_url(found.group(0))
        assert url is not None

        def send(sha: str) -> None:
            from reconciler.serve import send_push

            code, body = send_push(f"{url}/webhook", secret.encode(), branch="main", sha=sha)
            if code != 202:
                raise RuntimeError(f"the webhook answered {code}: {body}")

    else:
        loop = bench.loop(f"file://{bench.repo.bare}", ["--interval", f"{POLL_INTERVAL:g}s"])
    _converged(loop)
    samples = []
    for k in range(runs):
        if mode == "poll":
            time.sleep(POLL_INTERVAL * (k + 1) / (runs + 1))  # spread the commits over the interval
        sample = bench.measure(loop, mode, send)
        samples.append(sample)
        e = sample.engine
        stop_at = None if e.kill is None else e.kill - sample.t0
        report.line(f"run {k + 1}/{runs}: {sample.latency_s:.2f} s to running; container's own start "
                    f"{_fmt(e.own_start)} s; old container stopped {_fmt(e.old_stop)} s; tick started "
                    f"~+{max(sample.woke_s, 0.0):.1f} s, old container's stop requested +{_fmt(stop_at)} s; "
                    f"tick {sample.tick_s:.1f} s")  # fmt: skip
        time.sleep(0.5)  # the loop is idle again (its tick line is out)
    loop.stop()
    median = measure.median([s.latency_s for s in samples])
    own = measure.median([s.own_start_s for s in samples])
    rest = measure.median([s.beyond_own_s for s in samples])
    allowed = TARGET_S + (POLL_INTERVAL * (1 + JITTER) if mode == "poll" else 0.0)
    report.target(
        f"commit-to-converged, {mode}",
        f"{seconds(median)} (container's own start {seconds(own)}; beyond it {seconds(rest)})",
        f"beyond the container's own start < {allowed:g} s" + (" (2 s + one interval with jitter)"
                                                               if mode == "poll" else ""),
        rest < allowed,
    )  # fmt: skip
    return samples


# ---- the calls of an idle tick -----------------------------------------------------------------


class CountingStore:
    """A state store that counts the calls made to it (lease, status, history)."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


def _idle_tick(report: Report, bench: Bench, ticks: int) -> None:
    from reconciler import app
    from reconciler.app.statestore import open_state_store
    from reconciler.loop import GitRevisions, work_dir
    from reconciler.loop.tick import LoopOptions, Ticker
    from reconciler.sandbox import layout
    from reconciler.state import Result, StateStore, Trigger

    report.line()
    report.line("-- calls per idle tick (in process: the Ticker `reconciler run` builds, after it converged)")
    overrides = layout.overrides(state_dir=bench.state_dir)
    options = LoopOptions(repo=f"file://{bench.repo.bare}", path=PATH, interval=60.0, overrides=overrides)
    folder = work_dir(bench.state_dir, options)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = GitRevisions(options.repo, options.branch, folder / "mirror")
    stores: list[CountingStore] = []

    def open_store(settings: Any) -> StateStore:
        stores.append(CountingStore(open_state_store(settings)))
        return cast(StateStore, stores[-1])

    contexts: list[app.EnvironmentContext] = []
    real = app.open_environment

    def spy(*args: Any, **kwargs: Any) -> app.EnvironmentContext:
        contexts.append(real(*args, **kwargs))
        return contexts[-1]

    ticker = Ticker(options, source, folder, open_world=spy, open_store=open_store, owner_command="bench idle tick",
                    say=lambda _line: None, on_event=lambda _event: None)  # fmt: skip
    ticker.tick(Trigger.POLL, "bench warm-up")  # untimed, uncounted: the mirror and status settle
    seen: list[dict[str, int]] = []
    store_calls: list[Counter[str]] = []
    walls: list[float] = []
    for _ in range(ticks):
        contexts.clear()
        stores.clear()
        start = time.perf_counter()
        outcome = ticker.tick(Trigger.POLL, "bench idle tick")
        walls.append(time.perf_counter() - start)
        if outcome.result is not Result.NO_CHANGE or len(contexts) != 1:
            raise RuntimeError(f"an idle tick should find nothing to do: {outcome}")
        seen.append(calls_of(contexts[0].world.counters))
        store_calls.append(sum((s.calls for s in stores), Counter()))
    head = source.fetch()
    ctx = real(ticker.checkout(head), overrides, read_only=True)
    try:
        ctx.world.counters.reset()
        floor_plan = ctx.plan()
        floor = calls_of(ctx.world.counters)
    finally:
        ctx.close()
    if floor_plan.plan.has_changes:
        report.line("note: the comparison plan found changes (the world moved meanwhile)")
    tick = seen[-1]
    report.line(f"{'call':<52} {'idle tick':>9} {'plan (floor)':>12}")
    for key in sorted(tick.keys() | floor.keys()):
        report.line(f"{key:<52} {tick.get(key, 0):>9} {floor.get(key, 0):>12}")
    report.line(f"state store (SQLite, {bench.state_dir.name}/state.db; no AWS): "
                + ", ".join(f"{op} {n}" for op, n in sorted(store_calls[-1].items())))  # fmt: skip
    same = all(s == seen[0] for s in seen)
    report.line(f"idle tick wall time: median {measure.median(walls):.2f} s over {ticks} ticks; calls "
                + ("the same in every tick" if same else f"NOT the same in every tick: {seen}"))  # fmt: skip
    extra = beyond(tick, floor)
    total = {g: sum(n for k, n in tick.items() if k.startswith(g + " ")) for g in ("aws", "registry", "docker")}
    floor_total = {g: sum(n for k, n in floor.items() if k.startswith(g + " ")) for g in ("aws", "registry", "docker")}
    report.target(
        "calls per idle tick (AWS/registry/Docker)",
        "/".join(str(total[g]) for g in total) + (f", beyond the floor: {extra}" if extra else ""),
        "the observe floor " + "/".join(str(floor_total[g]) for g in floor_total)
        + " + the lease heartbeat (SQLite: no call)",
        not extra and same,
    )  # fmt: skip


# ---- the section ---------------------------------------------------------------------------------


def run(report: Report, sandbox: Sandbox, work: Path, *, runs: int, modes: list[str], idle_ticks: int,
        cleanup: contextlib.ExitStack) -> None:  # fmt: skip
    report.section("gitops", f"the GitOps loop: commit-to-converged latency ({runs} runs per way, medians), "
                             "calls per idle tick")  # fmt: skip
    uid = uuid.uuid4().hex[:6]
    work.mkdir(parents=True, exist_ok=True)
    cleanup.callback(shutil.rmtree, work, True)
    cleanup.callback(delete_path, sandbox.ssm, f"/bench-{uid}")
    repo, env = make_repo(work / "git", sandbox, uid)
    cleanup.callback(remove_project, sandbox.docker, env.project)
    stack = popcon.Stack.read(env.root)
    owned = {OWNER_KEY: env.ownership, ENVIRONMENT_KEY: env.name}
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": v for k, v in stack.parameters.items()}, owned)
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": ("SecureString", v)
                                 for k, v in popcon.secret_values(stack).items()})  # fmt: skip
    tag = stack.images[SERVICE][1]
    repository = stack.images[SERVICE][0]
    others = sorted(r.split(":", 1)[1] for r in sandbox.info.images if r.split(":", 1)[0] == repository)
    other = next((t for t in others if t != tag), None)
    if other is None:
        report.line(f"skipped: the registry has one tag of {repository}")
        return
    bench = Bench(sandbox, repo, env, work / "state", measure.child_env(sandbox.aws_env()), (tag, other), cleanup)
    report.line(f"pop-con dev copy {env.name} (project {env.project}) in {repo.bare}; "
                f"{SERVICE} {tag} <-> {other}; the engine polled every {POLL_EVERY * 1000:.0f} ms")  # fmt: skip
    for mode in [m for m in MODES if m in modes]:
        _latency(report, bench, mode, runs)
    if idle_ticks > 0:
        _idle_tick(report, bench, idle_ticks)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: python -m tests.bench --only gitops")
