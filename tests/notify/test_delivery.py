"""Notices delivered through the real queues and the real HTTP sender to a local receiver: the
providers' shapes, the HMAC signature, filters, one message per kind and revision, retries while
a provider is down, no URL or key in any log line or payload."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest

from notify.receiver import Receiver, start_receiver
from notify.shapes import check_discord, check_slack, check_teams
from reconciler.core.notices import Destination, DestinationType, Notice, NoticeKind, Severity
from reconciler.drivers.notify import WebhookSender
from reconciler.notify import Gate, Notifier, RetryPolicy
from reconciler.notify.delivery import Delivery

SHA = "0123456789abcdef0123456789abcdef01234567"
KEY = "hmac-key-s3cr3t"
TOKEN = "T000/B000/XXXXtokenXXXX"  # the part of a webhook URL that is its secret


def notice(kind: NoticeKind = NoticeKind.DEPLOY_FAILED, sha: str = SHA, **more: object) -> Notice:
    severity = Severity.ERROR if kind in (NoticeKind.DEPLOY_FAILED, NoticeKind.DEGRADED) else Severity.INFO
    fields: dict[str, object] = {
        "kind": kind, "severity": severity, "environment": "dev", "title": f"dev: {kind.value} of {sha[:12]}",
        "sha": sha, "author": "Dev <dev@example.com>", "subject": "bump web to 1.4.2 <&>",
        "commit_url": f"https://github.com/popcon/deploy/commit/{sha}",
        "reasons": ("service:default/web/web: image web:1.4.1 -> web:1.4.2",), "seconds": 83.4,
        "resource": "service:default/web/web", "error": "did not become healthy within 60s", "at": 1_790_000_000.0,
    }  # fmt: skip
    fields.update(more)
    return Notice(**fields)  # type: ignore[arg-type]


class Rig:
    def __init__(self, receiver: Receiver, policy: RetryPolicy) -> None:
        self.receiver = receiver
        self.lines: list[str] = []
        self.counts: list[tuple[str, str]] = []
        self.env = {"SLACK_URL": f"{receiver.url}/slack/{TOKEN}", "TEAMS_URL": f"{receiver.url}/teams/{TOKEN}",
                    "DISCORD_URL": f"{receiver.url}/discord/{TOKEN}", "HOOK_URL": f"{receiver.url}/hook/{TOKEN}",
                    "HOOK_KEY": KEY}  # fmt: skip
        delivery = Delivery(webhooks=WebhookSender(), aws=None, getenv=self.env.get)
        self.notifier = Notifier(delivery, policy=policy, say=self.lines.append,
                                 count=lambda d, o: self.counts.append((d, o)))  # fmt: skip

    def everything_said(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


@pytest.fixture
def rig(receiver: Receiver) -> Iterator[Rig]:
    r = Rig(receiver, RetryPolicy(attempts=30, base=0.05, cap=0.2))
    yield r
    r.notifier.close(timeout=1)


def dest(name: str, type: DestinationType, url_env: str, **more: object) -> Destination:
    return Destination(name=name, type=type, url_env=url_env, **more)  # type: ignore[arg-type]


ALL = (
    dest("slack", DestinationType.SLACK, "SLACK_URL"),
    dest("teams", DestinationType.MSTEAMS, "TEAMS_URL"),
    dest("discord", DestinationType.DISCORD, "DISCORD_URL"),
    dest("hook", DestinationType.GENERIC_HMAC, "HOOK_URL", secret_env="HOOK_KEY"),
)


def test_each_provider_gets_its_documented_shape(rig: Rig) -> None:
    kinds = list(NoticeKind)
    for i, kind in enumerate(kinds):
        rig.notifier.publish([notice(kind, sha=f"{i:040x}")], ALL)
    got = rig.receiver.wait_for(len(kinds) * len(ALL))
    by_path = {p: [r for r in got if r.path.startswith(f"/{p}/")] for p in ("slack", "teams", "discord", "hook")}
    assert all(len(v) == len(kinds) for v in by_path.values())
    for r in by_path["slack"]:
        check_slack(r.json())
    for r in by_path["teams"]:
        check_teams(r.json())
    for r in by_path["discord"]:
        check_discord(r.json())
    failed = next(r.json() for r in by_path["slack"] if r.json()["attachments"][0]["color"] == "#d00000")
    attachment = failed["attachments"][0]
    assert attachment["title_link"].startswith("https://github.com/popcon/deploy/commit/")
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["Environment"] == "dev" and fields["Commit"] == "bump web to 1.4.2 &lt;&amp;&gt;"  # Slack escaping
    assert fields["Duration"] == "1m23s" and fields["Resource"] == "service:default/web/web"
    assert "did not become healthy" in attachment["text"]
    assert {r.json()["attachments"][0]["color"] for r in by_path["slack"]} == {"#2eb886", "#439fe0", "#d00000",
                                                                              "#daa038"}  # fmt: skip


def test_the_generic_hmac_webhook_is_signed_over_the_exact_body(rig: Rig) -> None:
    rig.notifier.publish([notice()], ALL[3:])
    [got] = rig.receiver.wait_for(1)
    expected = "sha256=" + hmac.new(KEY.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Signature"], expected)
    assert got.headers["Content-Type"] == "application/json"
    body = got.json()
    assert body["kind"] == "DeployFailed" and body["revision"]["short"] == SHA[:12]
    assert body["error"] == "did not become healthy within 60s" and body["timestamp"] == "2026-09-21T14:13:20Z"


def test_filters_by_severity_and_events(rig: Rig) -> None:
    errors_only = dest("errors", DestinationType.GENERIC, "HOOK_URL", severity=Severity.ERROR)
    started_only = dest("started", DestinationType.SLACK, "SLACK_URL", events=frozenset({NoticeKind.DEPLOY_STARTED}))
    rig.notifier.publish([notice(NoticeKind.DEPLOY_STARTED), notice(NoticeKind.DEPLOY_FAILED),
                          notice(NoticeKind.DEPLOY_SUCCEEDED)], (errors_only, started_only))  # fmt: skip
    rig.notifier.drain(10)
    assert [r.json()["kind"] for r in rig.receiver.at(f"/hook/{TOKEN}")] == ["DeployFailed"]
    [slack] = rig.receiver.at(f"/slack/{TOKEN}")
    assert slack.json()["attachments"][0]["footer"].endswith("DeployStarted")


def test_one_message_per_kind_and_revision_and_one_per_window_for_flapping(receiver: Receiver) -> None:
    now = [1000.0]
    delivery = Delivery(webhooks=WebhookSender(), aws=None, getenv={"HOOK_URL": receiver.url + "/hook"}.get)
    notifier = Notifier(delivery, gate=Gate(window=300), clock=lambda: now[0])
    hook = (dest("hook", DestinationType.GENERIC, "HOOK_URL"),)
    try:
        for _ in range(3):  # the same deploy told by three ticks
            notifier.publish([notice(NoticeKind.DEPLOY_FAILED)], hook)
        for step in range(6):  # degraded, recovered, degraded ... every 30 s
            now[0] += 30
            kind = NoticeKind.DEGRADED if step % 2 == 0 else NoticeKind.RECOVERED
            notifier.publish([notice(kind, sha=f"{step:040x}")], hook)
        now[0] += 300  # past the window: a new degradation is told again
        notifier.publish([notice(NoticeKind.DEGRADED, sha="f" * 40)], hook)
        notifier.drain(10)
    finally:
        notifier.close(1)
    assert [r.json()["kind"] for r in receiver.at("/hook")] == ["DeployFailed", "Degraded", "Recovered", "Degraded"]


def test_a_provider_down_gets_its_messages_afterwards_in_order(rig: Rig) -> None:
    rig.receiver.down_for(1.0)
    hook = ALL[3:]
    queued = [rig.notifier.publish([notice(k)], hook) for k in (NoticeKind.DEPLOY_STARTED, NoticeKind.DEPLOY_FAILED)]
    assert queued == [1, 1]
    got = rig.receiver.wait_for(2)
    assert [r.json()["kind"] for r in got] == ["DeployStarted", "DeployFailed"]
    assert rig.receiver.refused >= 1
    assert ("hook", "retried") in rig.counts and rig.counts.count(("hook", "sent")) == 2
    said = rig.everything_said()
    assert "answered HTTP 503" in said and "retrying" in said


def test_a_permanent_failure_is_dropped_and_nothing_secret_is_said(rig: Rig) -> None:
    missing = dest("nowhere", DestinationType.SLACK, "UNSET_URL")
    wrong = dest("wrong", DestinationType.DISCORD, "DISCORD_URL")
    rig.env["DISCORD_URL"] = f"http://127.0.0.1:9/discord/{TOKEN}"  # nothing listens on port 9: temporary
    rig.notifier.policy = RetryPolicy(attempts=2, base=0.01, cap=0.01)
    rig.notifier.publish([notice()], (missing, wrong))
    rig.notifier.drain(10)
    said = rig.everything_said()
    assert "the variable UNSET_URL is not set" in said
    assert "not delivered after 2 tries" in said and "http://127.0.0.1:9" in said
    assert TOKEN not in said and KEY not in said
    assert ("nowhere", "failed") in rig.counts and ("wrong", "failed") in rig.counts


def test_no_payload_holds_the_url_or_the_key(rig: Rig) -> None:
    for i, kind in enumerate(NoticeKind):
        rig.notifier.publish([notice(kind, sha=f"{i:040x}")], ALL)
    got = rig.receiver.wait_for(len(NoticeKind) * len(ALL))
    for r in got:
        assert TOKEN.encode() not in r.body and KEY.encode() not in r.body
        assert all(KEY not in v for v in r.headers.values())


def test_a_full_queue_drops_the_oldest(receiver: Receiver) -> None:
    counts: list[tuple[str, str]] = []
    delivery = Delivery(webhooks=WebhookSender(), aws=None, getenv={"HOOK_URL": receiver.url + "/hook"}.get)
    notifier = Notifier(delivery, limit=3, count=lambda d, o: counts.append((d, o)),
                        policy=RetryPolicy(attempts=1000, base=0.05, cap=0.05))  # fmt: skip
    receiver.down_for(3600)
    hook = (dest("hook", DestinationType.GENERIC, "HOOK_URL"),)
    for i in range(10):
        notifier.publish([notice(sha=f"{i:040x}")], hook)
    assert counts.count(("hook", "dropped")) >= 6
    receiver.down_until = 0
    notifier.drain(10)
    notifier.close(1)
    shas = [r.json()["revision"]["sha"] for r in receiver.at("/hook")]
    assert shas[-1] == f"{9:040x}" and len(shas) <= 4  # the newest kept, at most the one in flight + 3
