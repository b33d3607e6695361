"""What the loop tells, tick by tick (the Ticker over a fake source and world, the real SQLite store,
the real subscribers, gate and metrics; the publisher records what the queues would send): deploy
started and succeeded, failed and degraded, skipped once, recovered, drift corrected, rolled back;
no duplicate across ticks; the metrics' rollout and rollback durations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from loop.kit import A, B, plan
from loop.test_rollback import gate_fails, rollout_plan
from loop.test_tick import FakeSource, FakeWorld, done

from reconciler.app.settings import Overrides
from reconciler.core.notices import Destination, DestinationType, Notice, NoticeKind
from reconciler.core.plan import Plan
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.loop.notices import commit_url
from reconciler.loop.subscribers import Subscribers
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.notify import Gate
from reconciler.serve.metrics import LoopMetrics
from reconciler.state import Trigger

HOOK = Destination(name="hook", type=DestinationType.GENERIC, url_env="HOOK_URL")


@dataclass
class Recorder:
    """The notifier's front (its gate), recording what would be queued."""

    gate: Gate = field(default_factory=Gate)
    sent: list[Notice] = field(default_factory=list)
    now: float = 1000.0

    def publish(self, notices: Iterable[Notice], destinations: Iterable[Destination]) -> int:
        targets = list(destinations)
        new = [n for n in notices if self.gate.admit(n, self.now) and any(d.wants(n) for d in targets)]
        self.sent += new
        return len(new)

    def kinds(self) -> list[str]:
        taken = [n.kind.value for n in self.sent]
        self.sent.clear()
        return taken


@dataclass
class Rig:
    ticker: Ticker
    source: FakeSource
    world: FakeWorld
    told: Recorder
    metrics: LoopMetrics

    def tick(self) -> None:
        self.ticker.tick(Trigger.POLL, "loop@test")
        self.told.now += 60

    def head(self, revision: object) -> None:
        self.source.head = revision  # type: ignore[assignment]
        self.source.known[revision.sha] = revision  # type: ignore[attr-defined]


@pytest.fixture
def rig(tmp_path: Path) -> Callable[[FakeWorld], Rig]:
    def make(world: FakeWorld) -> Rig:
        store = SqliteStateStore.in_state_dir(tmp_path / "state")
        options = LoopOptions(repo="git@github.com:popcon/deploy.git", path="environments/dev",
                              overrides=Overrides(state_dir=tmp_path / "state"))  # fmt: skip
        told, metrics = Recorder(), LoopMetrics(process=False)
        subs = Subscribers(repo=options.repo, destinations=lambda: (HOOK,), say=print, notifier=told, metrics=metrics)
        source = FakeSource(A)
        ticker = Ticker(options, source, tmp_path / "loop", open_world=world.open, open_store=lambda _s: store,
                        owner_command="test", say=lambda _l: None, on_event=subs.on_event,
                        on_tick=subs.on_tick)  # fmt: skip
        return Rig(ticker, source, world, told, metrics)

    return make


def fails(p: Plan) -> ApplyReport:
    return ApplyReport(tuple(ActionResult(a.address, a.kind, "failed", "AccessDenied") for a in p.actions))


def test_a_deploy_is_told_started_then_succeeded_once(rig: Callable[[FakeWorld], Rig]) -> None:
    r = rig(FakeWorld(found=[plan("/p/X"), plan()]))
    r.tick()
    started, succeeded = r.told.sent
    assert (started.kind, succeeded.kind) == (NoticeKind.DEPLOY_STARTED, NoticeKind.DEPLOY_SUCCEEDED)
    assert succeeded.sha == A.sha and succeeded.author == A.author and succeeded.subject == "first"
    assert succeeded.commit_url == f"https://github.com/popcon/deploy/commit/{A.sha}"
    assert succeeded.reasons == ("parameter:/p/X: not found",) and succeeded.seconds is not None
    r.told.sent.clear()
    for _ in range(3):
        r.tick()  # in sync: nothing to tell
    assert r.told.kinds() == []


def test_a_failure_is_told_once_then_skipped_once_then_recovered(rig: Callable[[FakeWorld], Rig]) -> None:
    r = rig(FakeWorld(found=[plan("/p/X")], outcome=fails))
    r.tick()
    assert r.told.kinds() == ["DeployStarted", "DeployFailed", "Degraded"]
    r.tick()
    r.tick()
    assert r.told.kinds() == ["RevisionSkipped"]  # once, though every tick skips it
    r.head(B)
    r.world.found = [plan("/p/X"), plan()]
    r.world.outcome = done
    r.tick()
    assert r.told.kinds() == ["DeployStarted", "DeploySucceeded", "Recovered"]
    failed = r.metrics.value("reconciler_environment_sync_state", environment="dev", state="Synced")
    assert failed == 1.0


def test_drift_corrected_is_told_once_per_revision(rig: Callable[[FakeWorld], Rig]) -> None:
    r = rig(FakeWorld(found=[plan("/p/X"), plan("/p/X"), plan()]))
    r.tick()
    r.told.sent.clear()
    r.tick()  # the same revision, changes again: drift, corrected (selfHeal)
    assert r.told.kinds() == ["DriftCorrected"]  # no DeployStarted for a drift correction
    assert r.metrics.value("reconciler_drift_corrections_total", environment="dev") == 1.0


def test_a_rolled_back_rollout_is_told_and_timed(rig: Callable[[FakeWorld], Rig]) -> None:
    good, bad, back = plan("/p/X"), rollout_plan("/p/Y"), rollout_plan("/p/X")

    def outcome(p: Plan) -> ApplyReport:
        return gate_fails(p) if p is bad else done(p)

    r = rig(FakeWorld(found=[good, plan()], outcome=outcome))
    r.tick()
    r.told.sent.clear()
    r.head(B)
    r.world.found = [bad, back, bad]
    r.tick()
    sent = list(r.told.sent)
    assert [n.kind.value for n in sent] == ["DeployStarted", "DeployFailed", "RolledBack", "Degraded"]
    rolled = sent[2]
    assert rolled.title == f"dev: rolled back to {A.sha[:12]} after the rollout of {B.sha[:12]} failed"
    assert rolled.resource == "instance:i-0123456789abcdef0/health" and "HTTP 500" in (rolled.error or "")
    assert r.metrics.value("reconciler_rollout_duration_seconds_count", environment="dev",
                           result="rolled-back") == 1.0  # fmt: skip
    assert r.metrics.value("reconciler_rollback_duration_seconds_count", environment="dev", result="ok") == 1.0


def test_invalid_specs_are_told_as_a_failed_deploy(rig: Callable[[FakeWorld], Rig], tmp_path: Path) -> None:
    r = rig(FakeWorld(found=[plan("/p/X"), plan()]))
    r.tick()
    r.told.sent.clear()
    r.head(B)

    def broken_checkout(sha: str, path: str, dest: Path) -> Path:
        FakeSource.checkout(r.source, sha, path, dest)
        (dest / "environments" / "dev" / "environment.yaml").write_text("kind: Environment\nspec: {nope: 1}\n")
        return dest

    r.source.checkout = broken_checkout  # type: ignore[method-assign]
    r.tick()
    r.tick()
    kinds = [n.kind for n in r.told.sent]
    assert kinds == [NoticeKind.DEPLOY_FAILED, NoticeKind.DEGRADED]
    assert r.told.sent[0].resource == "specs" and "environment.yaml" in (r.told.sent[0].error or "")


def test_commit_links_only_for_github() -> None:
    sha = "a" * 40
    for repo in ("https://github.com/o/r.git", "git@github.com:o/r.git", "ssh://git@github.com/o/r", "https://github.com/o/r/"):
        assert commit_url(repo, sha) == f"https://github.com/o/r/commit/{sha}", repo
    for repo in ("https://gitlab.com/o/r.git", "/srv/git/deploy.git", "file:///tmp/r", "https://github.com.evil/o/r"):
        assert commit_url(repo, sha) is None, repo
