"""Notifications and metrics of the real loop (`reconciler run` in a subprocess, real git, the
sandbox): the webhook receiver is down for the first 30 s, the deploy still succeeds and the
messages arrive afterwards; a failing revision is told once, skipped once, and its fix recovers;
no message twice across ticks; no secret in any payload; /metrics scraped and parsed."""

from __future__ import annotations

import collections
import hashlib
import hmac
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from notify.receiver import start_receiver
from notify.shapes import check_slack
from prometheus_client.parser import text_string_to_metric_families

from e2e.conftest import EnvFactory
from e2e.gitops import applied, make_remote, replace_in, start_loop, status, wait_until
from e2e.test_gitops import NEW_TAG, OLD_TAG

pytestmark = pytest.mark.world

TOKEN = "T0E2E/B0E2E/e2eWebhookToken"
KEY = "e2e-hmac-signing-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in text_string_to_metric_families(text)
            for s in f.samples}  # fmt: skip


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, w) in ls for k, w in labels.items()))


def test_messages_arrive_after_an_outage_once_each_with_no_secret(make_env: EnvFactory, tmp_path: Path) -> None:
    receiver = start_receiver()
    receiver.down_for(30)
    env = make_env("dev")

    def notify(spec: Any) -> None:
        spec["notifications"] = [
            {"name": "team-slack", "type": "slack", "urlEnv": "E2E_SLACK_URL"},
            {"name": "audit", "type": "generic-hmac", "urlEnv": "E2E_HOOK_URL", "secretEnv": "E2E_HOOK_KEY"},
        ]

    env.copy.edit("Environment", None, notify)
    remote = make_remote(env, tmp_path / "git")
    first = remote.head()
    port = free_port()
    urls = {"E2E_SLACK_URL": f"{receiver.url}/slack/{TOKEN}", "E2E_HOOK_URL": f"{receiver.url}/hook/{TOKEN}",
            "E2E_HOOK_KEY": KEY}  # fmt: skip
    loop = start_loop(env, remote.clone, "--interval", "2s", "--listen", f"127.0.0.1:{port}", extra_env=urls)
    began = time.monotonic()
    try:
        wait_until(applied(env, first), what=loop.output)
        deployed_in = time.monotonic() - began
        assert deployed_in < 30 and receiver.received == []  # the deploy did not wait for the provider
        receiver.wait_for(4, timeout=90)  # started and succeeded, to both destinations, once it is back
        assert receiver.refused >= 2

        bad = remote.commit("a tag that does not exist", replace_in("images.yaml", OLD_TAG, 'tag: "9.9.9"'))
        loop.wait_for(rf"at {bad[:12]}: skipped .* failed before")
        loop.wait_for(rf"tick \d+ .*at {bad[:12]}: skipped", timeout=30)
        good = remote.commit("back to a real tag", replace_in("images.yaml", 'tag: "9.9.9"', NEW_TAG))
        wait_until(applied(env, good), what=loop.output)
        time.sleep(3)  # a tick or two in sync: nothing more to tell
        metrics = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        assert loop.stop() == 0, loop.output()
        receiver.stop()
    hooks = [r for r in receiver.received if r.path == f"/hook/{TOKEN}"]
    told = [(r.json()["kind"], r.json()["revision"]["sha"]) for r in hooks]
    assert told == [
        ("DeployStarted", first), ("DeploySucceeded", first),
        ("DeployFailed", bad), ("Degraded", bad), ("RevisionSkipped", bad),
        ("DeployStarted", good), ("DeploySucceeded", good), ("Recovered", good),
    ], told  # fmt: skip
    assert all(n == 1 for n in collections.Counter(told).values())
    for r in hooks:
        assert r.headers["X-Signature"] == "sha256=" + hmac.new(KEY.encode(), r.body, hashlib.sha256).hexdigest()
    slack = [r.json() for r in receiver.received if r.path == f"/slack/{TOKEN}"]
    assert len(slack) == len(hooks)
    for payload in slack:
        check_slack(payload)
    failed = next(r.json() for r in hooks if r.json()["kind"] == "DeployFailed")
    assert "9.9.9" in failed["error"] and failed["revision"]["subject"] == "a tag that does not exist"
    succeeded = next(r.json() for r in hooks if r.json()["kind"] == "DeploySucceeded")
    assert succeeded["durationSeconds"] > 0 and succeeded["reasons"], succeeded
    reasons = succeeded["reasons"]  # services first, at most 5 lines
    assert reasons[0].startswith("service:") and len(reasons) == 5 and reasons[-1].startswith("and "), reasons
    # no secret anywhere: the seeded SecureStrings, the webhook URLs' token, the signing key
    secrets = [*env.secrets.values(), TOKEN, KEY]
    for r in receiver.received:
        for secret in secrets:
            assert secret.encode() not in r.body, secret
    for secret in secrets:
        assert secret not in loop.output()
    assert status(env).last_applied.sha == good  # type: ignore[union-attr]
    # the metrics saw it all
    assert total(metrics, "reconciler_notifications_total", destination="audit", outcome="retried") >= 1
    assert total(metrics, "reconciler_notifications_total", destination="audit", outcome="sent") == 8
    assert total(metrics, "reconciler_ticks_total", result="applied") == 2
    assert total(metrics, "reconciler_failures_total", kind="permanent", reason="PlanFailed") >= 1
    assert total(metrics, "reconciler_reconcile_duration_seconds_count") >= 4
    assert total(metrics, "reconciler_environment_sync_state", state="Synced") == 1
