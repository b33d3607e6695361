"""The GitOps loop end to end: real git repositories (a bare remote and clones), the real CLI
(`reconciler run` in a subprocess), the sandbox's engine, registry and moto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.conftest import Env, EnvFactory
from e2e.gitops import (
    applied,
    history,
    make_remote,
    replace_in,
    start_loop,
    status,
    wait_until,
)
from e2e.test_cli import run
from reconciler.serve import send_push
from reconciler.state import ConditionStatus, ConditionType, Result

pytestmark = pytest.mark.world

OLD_TAG, NEW_TAG = 'tag: "2.2.0"', 'tag: "2.1.0"'


def image_of(env: Env, service: str) -> str:
    return str(env.containers()[service]["Image"])


def test_pushed_commits_are_applied_and_recorded_uncommitted_edits_never(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    first = remote.head()
    # the loop reads the clone (a local working tree): its uncommitted edits must never be applied
    loop = start_loop(env, remote.clone, "--interval", "2s")
    try:
        wait_until(applied(env, first), what=loop.output)
        assert set(env.ids()) == {"mysql", "redis", "backend", "frontend"}
        backend = env.ids()["backend"]
        replace_in("images.yaml", OLD_TAG, NEW_TAG)(remote.env_dir)  # edited, not committed
        loop.wait_for(r"tick \d+ \(poll\).*no-change")  # at least one more tick after the edit
        time.sleep(2.5)
        assert env.ids()["backend"] == backend and status(env).last_applied.sha == first  # type: ignore[union-attr]

        second = remote.commit("backend 2.1.0", lambda _d: None)  # now committed (and pushed)
        wait_until(applied(env, second), what=loop.output)
        assert env.ids()["backend"] != backend and "2.1.0" not in image_of(env, "frontend")
    finally:
        assert loop.stop() == 0, loop.output()
    ready = next(c for c in status(env).conditions if c.type is ConditionType.READY)
    assert ready.status is ConditionStatus.TRUE
    entries = history(env)
    shas = [e.revision.sha for e in entries if e.revision is not None and e.result is Result.APPLIED]
    assert shas[:2] == [second, first]
    newest = entries[0]
    assert newest.reason.startswith(f"new revision {second[:12]}") and "service:" in newest.reason
    assert newest.actions.get("recreate_service") == 1
    # the CLI shows the same
    shown = run(env, "history")
    assert shown.returncode == 0 and second[:12] in shown.stdout and "why: new revision" in shown.stdout
    as_json = run(env, "status", "--format", "json")
    assert as_json.returncode == 0 and second in as_json.stdout


def test_a_signed_webhook_starts_a_tick_at_once_an_unsigned_one_nothing(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    secret = "hook-s3cret-value"
    # a remote by URL (no local refs to watch) and a long interval: only the webhook can start a tick
    loop = start_loop(env, f"file://{remote.bare}", "--interval", "10m", "--listen", "127.0.0.1:0",
                      extra_env={"RECONCILER_WEBHOOK_SECRET": secret})  # fmt: skip
    try:
        url = loop.wait_for(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
        wait_until(applied(env, remote.head()), what=loop.output)
        second = remote.commit("backend 2.1.0", replace_in("images.yaml", OLD_TAG, NEW_TAG))
        assert send_push(f"{url}/webhook", b"wrong-secret", branch="main", sha=second)[0] == 401
        time.sleep(1.5)
        assert status(env).last_applied.sha != second  # type: ignore[union-attr]
        started = time.monotonic()
        assert send_push(f"{url}/webhook", secret.encode(), branch="main", sha=second)[0] == 202
        wait_until(applied(env, second), timeout=60, what=loop.output)
        assert time.monotonic() - started < 60
        assert any(e.trigger.value == "webhook" and e.revision is not None and e.revision.sha == second
                   for e in history(env))  # fmt: skip
    finally:
        assert loop.stop() == 0, loop.output()
    assert secret not in loop.output()


def test_drift_is_healed_with_self_heal_and_only_reported_without(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    loop_once = ["--repo", str(remote.bare), "--path", "environments/dev", "--once"]
    first = run_loop_once(env, loop_once)  # the revision is deployed
    assert first.returncode == 0 and "new revision" in first.stderr, first.stderr
    # out-of-band: a parameter changed and a container removed
    env.clients.ssm.put_parameter(Name=env.name("DB_NAME"), Value="tampered", Type="String", Overwrite=True)
    env.api.remove_container(env.ids()["frontend"], force=True)
    healed = run_loop_once(env, loop_once)
    assert healed.returncode == 0, healed.stderr
    assert "drift corrected (selfHeal)" in healed.stderr
    assert env.parameter("DB_NAME") == "popcon" and "frontend" in env.ids()
    assert history(env)[0].reason.startswith("drift corrected")

    remote.commit("no self-heal", replace_in("environment.yaml", "spec:\n", "spec:\n  selfHeal: false\n"))
    assert run_loop_once(env, loop_once).returncode == 0  # the new revision (nothing else changed)
    env.clients.ssm.put_parameter(Name=env.name("DB_NAME"), Value="tampered", Type="String", Overwrite=True)
    reported = run_loop_once(env, loop_once)
    assert reported.returncode == 0, reported.stderr
    assert "drift not corrected (selfHeal is off)" in reported.stderr
    assert env.parameter("DB_NAME") == "tampered"
    out_of_sync = next(c for c in status(env).conditions if c.type is ConditionType.OUT_OF_SYNC)
    assert out_of_sync.status is ConditionStatus.TRUE and out_of_sync.reason == "DriftNotCorrected"
    assert any("DB_NAME" in address for address in status(env).resources)


def run_loop_once(env: Env, args: list[str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", "run", *args, "--sandbox", "--state-dir", str(env.state_dir),
            "--log-format", "text"]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, check=False,
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip


def test_a_failing_revision_leaves_the_loop_running_and_the_next_good_commit_is_applied(
    make_env: EnvFactory, tmp_path: Path
) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    loop = start_loop(env, remote.clone, "--interval", "2s")
    try:
        wait_until(applied(env, remote.head()), what=loop.output)
        bad = remote.commit("a tag that does not exist", replace_in("images.yaml", OLD_TAG, 'tag: "9.9.9"'))
        loop.wait_for(rf"at {bad[:12]}: failed")
        loop.wait_for(rf"at {bad[:12]}: skipped .* failed before")  # not retried while nothing changed
        assert loop.proc.poll() is None  # still running
        current = status(env)
        assert bad + "@" in " ".join(current.failed_revisions) and "9.9.9" in (current.last_error or "")
        assert current.last_applied is not None and current.last_applied.sha != bad
        good = remote.commit("back to a real tag", replace_in("images.yaml", 'tag: "9.9.9"', NEW_TAG))
        wait_until(applied(env, good), what=loop.output)
        assert not status(env).failed_revisions
    finally:
        assert loop.stop() == 0, loop.output()


def test_the_lease_one_actor_at_a_time_and_takeover_after_kill(make_env: EnvFactory, tmp_path: Path) -> None:
    from loop.holder import holder

    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    held = holder(env.state_dir, env.copy.environment, ttl=4)
    try:
        refused = run_loop_once(env, ["--repo", str(remote.bare), "--path", "environments/dev", "--once"])
        assert refused.returncode == 1
        assert f"is held by reconciler apply (test holder) (pid {held.pid} on" in refused.stderr
        assert env.ids() == {}  # nothing was done
        loop = start_loop(env, remote.bare, "--interval", "1s")  # waits (backs off) while held
        loop.wait_for(r"is held by reconciler apply \(test holder\)")
    finally:
        held.send_signal(signal.SIGKILL)  # no release: the lease expires within its TTL
        held.wait()
        if held.stdout is not None:
            held.stdout.close()
    try:
        wait_until(applied(env, remote.head()), timeout=60, what=loop.output)
        manual = run(env, "apply", "--auto-approve")  # between ticks the lease is free again
        assert manual.returncode == 0, manual.stderr
    finally:
        assert loop.stop() == 0, loop.output()


def test_rollback_by_commit_and_by_pin_with_the_loop_running(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    first = remote.head()
    loop = start_loop(env, remote.bare, "--interval", "1s")
    try:
        wait_until(applied(env, first), what=loop.output)
        old_image = image_of(env, "backend")
        bump = remote.commit("backend 2.1.0", replace_in("images.yaml", OLD_TAG, NEW_TAG))
        wait_until(applied(env, bump), what=loop.output)
        assert image_of(env, "backend") != old_image

        rolled = cli(env, remote.env_dir, "rollback", "--to", first, "--push", "-m", "bad release")
        assert rolled.returncode == 0, rolled.stderr
        rollback_sha = subprocess.run(["git", "rev-parse", "main"], cwd=remote.bare, capture_output=True,
                                      text=True, check=True).stdout.strip()  # fmt: skip
        assert rollback_sha not in (first, bump)
        wait_until(applied(env, rollback_sha), what=loop.output)
        assert image_of(env, "backend") == old_image
        assert (remote.env_dir / "images.yaml").read_text() != ""  # the clone was not touched by the push

        pinned = cli(env, remote.env_dir, "rollback", "--pin", bump)
        assert pinned.returncode == 0, pinned.stderr
        wait_until(applied(env, bump), what=loop.output)
        pin = next(c for c in status(env).conditions if c.type is ConditionType.PINNED)
        assert pin.status is ConditionStatus.TRUE
        time.sleep(3)  # more ticks: the pin holds, the branch head is not applied
        assert status(env).last_applied.sha == bump  # type: ignore[union-attr]

        assert cli(env, remote.env_dir, "unpin").returncode == 0
        wait_until(applied(env, rollback_sha), what=loop.output)
        assert image_of(env, "backend") == old_image
    finally:
        assert loop.stop() == 0, loop.output()


def test_suspend_stops_acting_resume_acts_again(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    assert cli(env, remote.env_dir, "suspend").returncode == 0
    once = ["--repo", str(remote.bare), "--path", "environments/dev", "--once"]
    suspended = run_loop_once(env, once)
    assert suspended.returncode == 0 and "suspended" in suspended.stderr
    assert env.ids() == {}
    assert next(c for c in status(env).conditions if c.type is ConditionType.SUSPENDED).status is ConditionStatus.TRUE
    assert cli(env, remote.env_dir, "resume").returncode == 0
    resumed = run_loop_once(env, once)
    assert resumed.returncode == 0, resumed.stderr
    assert set(env.ids()) == {"mysql", "redis", "backend", "frontend"}


def cli(env: Env, env_dir: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "reconciler.cli", command, str(env_dir), "--sandbox", "--state-dir",
            str(env.state_dir), *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip


def test_the_loop_killed_during_an_apply_converges_when_restarted(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env("dev")
    remote = make_remote(env, tmp_path / "git")
    loop = start_loop(env, remote.bare, "--interval", "1s")
    try:
        loop.wait_for(r"service:default/popcon/(mysql|redis): creating")  # parameters written, containers starting
    finally:
        assert loop.stop(signal.SIGKILL) == -signal.SIGKILL  # no release, no cleanup
    again = start_loop(env, remote.bare, "--interval", "1s")  # waits for the dead loop's lease to expire
    try:
        wait_until(applied(env, remote.head()), timeout=120, what=again.output)
    finally:
        assert again.stop() == 0, again.output()
    everything = env.api.containers(all=True, filters={"label": f"com.docker.compose.project={env.copy.project}"})
    assert sorted(str(c["Labels"]["com.docker.compose.service"]) for c in everything) == [
        "backend", "frontend", "mysql", "redis",
    ]  # one container each: none duplicated, none left over
    assert env.parameter("DB_NAME") == "popcon" and env.parameter("DB_HOST") == "mysql"
    assert run(env, "plan", "--detailed-exitcode").returncode == 0  # converged
