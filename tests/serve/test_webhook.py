"""Signatures and push decisions, without a socket (reconciler.serve.webhook)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from reconciler.serve.webhook import (
    BadPayload,
    Deliveries,
    Ignored,
    Pong,
    Push,
    UnsupportedType,
    decide,
    payload,
    sign,
    verify,
)

SHA = "a" * 40


def push(ref: str = "refs/heads/main", after: str = SHA, **extra: Any) -> dict[str, Any]:
    return {
        "ref": ref,
        "after": after,
        "repository": {"full_name": "acme/envs", "clone_url": "https://github.com/acme/envs.git"},
        "pusher": {"name": "alice"},
        "head_commit": {"message": "bump backend"},
        **extra,
    }


def test_sign_matches_githubs_documented_example() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == expected


@pytest.mark.parametrize(
    ("secret", "signature"),
    [
        (b"s3cret", None),
        (b"s3cret", ""),
        (b"s3cret", sign(b"other", b"body")),
        (b"s3cret", sign(b"s3cret", b"another body")),
        (b"s3cret", "sha1=" + hmac.new(b"s3cret", b"body", hashlib.sha1).hexdigest()),
        (b"s3cret", sign(b"s3cret", b"body").upper()),
        (b"s3cret", sign(b"s3cret", b"body") + " "),
        (b"s3cret", sign(b"s3cret", b"body")[:-1]),
        (b"", sign(b"", b"body")),
        (None, sign(b"", b"body")),
    ],
)
def test_verify_refuses(secret: bytes | None, signature: str | None) -> None:
    assert not verify(secret, b"body", signature)


def test_verify_accepts_the_signature_of_exactly_this_body() -> None:
    assert verify(b"s3cret", b"body", sign(b"s3cret", b"body"))


def test_a_push_to_the_branch_names_commit_repository_and_pusher() -> None:
    decision = decide("push", push(), branch="main", delivery_id="d-1")
    assert decision == Push(
        branch="main",
        sha=SHA,
        repository="acme/envs",
        pusher="alice",
        delivery_id="d-1",
        clone_url="https://github.com/acme/envs.git",
        message="bump backend",
    )


def test_sha256_object_names_are_commits_too() -> None:
    decision = decide("push", push(after="b" * 64), branch="main")
    assert isinstance(decision, Push) and decision.sha == "b" * 64


@pytest.mark.parametrize(
    ("event", "data", "why"),
    [
        ("push", push(ref="refs/heads/feature"), "refs/heads/feature"),
        ("push", push(ref="refs/heads/main-2"), "refs/heads/main-2"),
        ("push", push(ref="refs/tags/v1.0"), "tag 'v1.0'"),
        ("push", push(deleted=True), "deletion"),
        ("push", push(after="0" * 40), "deletion"),
        ("issues", {"action": "opened"}, "'issues' is not a push"),
    ],
)
def test_other_deliveries_are_ignored_with_the_reason(event: str, data: dict[str, Any], why: str) -> None:
    decision = decide(event, data, branch="main")
    assert isinstance(decision, Ignored) and why in decision.reason


def test_ping_is_answered() -> None:
    assert decide("ping", {"zen": "Keep it logically awesome."}, branch="main") == Pong()


def test_repository_filter_is_case_insensitive() -> None:
    assert isinstance(decide("push", push(), branch="main", repository="ACME/envs"), Push)
    ignored = decide("push", push(), branch="main", repository="acme/other")
    assert isinstance(ignored, Ignored) and "acme/other" in ignored.reason


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (None, push()),
        ("", push()),
        ("push", {"after": SHA}),
        ("push", push(ref=7)),
        ("push", push(after="not-a-sha")),
        ("push", push(after=SHA.upper())),
        ("push", {"ref": "refs/heads/main"}),
    ],
)
def test_unreadable_pushes_are_bad_payloads(event: str | None, data: dict[str, Any]) -> None:
    with pytest.raises(BadPayload):
        decide(event, data, branch="main")


def test_missing_optional_fields_become_empty_strings() -> None:
    decision = decide("push", {"ref": "refs/heads/main", "after": SHA, "pusher": "not-an-object"}, branch="main")
    assert isinstance(decision, Push)
    assert (decision.repository, decision.pusher, decision.message, decision.clone_url) == ("", "", "", "")


def test_payload_reads_json_and_the_form_encoding() -> None:
    data = push()
    text = json.dumps(data)
    assert payload("application/json; charset=utf-8", text.encode()) == data
    assert payload("application/x-www-form-urlencoded", urlencode({"payload": text}).encode()) == data


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b"\xff\xfe"),
        ("application/json", b"[" * 100_000),
        ("application/x-www-form-urlencoded", b"other=1"),
        ("application/x-www-form-urlencoded", b"payload=1&payload=2"),
        ("application/x-www-form-urlencoded", b"payload=%7Bnot"),
    ],
)
def test_bad_bodies(content_type: str, body: bytes) -> None:
    with pytest.raises(BadPayload):
        payload(content_type, body)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/xml"])
def test_other_content_types_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedType):
        payload(content_type, b"{}")


def test_deliveries_are_claimed_once_within_the_window() -> None:
    deliveries = Deliveries(window=60)
    assert deliveries.claim("a") and not deliveries.claim("a") and deliveries.claim("b")
    deliveries.release("a")
    assert deliveries.claim("a")
    assert deliveries.claim("") and deliveries.claim("")  # no id: nothing to compare
    off = Deliveries(window=0)
    assert off.claim("a") and off.claim("a")


def test_deliveries_expire_and_are_bounded() -> None:
    short = Deliveries(window=0.05)
    assert short.claim("a")
    time.sleep(0.1)
    assert short.claim("a")
    small = Deliveries(window=60, limit=2)
    assert small.claim("1") and small.claim("2") and small.claim("3")
    assert small.claim("1")  # the oldest was forgotten to stay within the limit


def test_concurrent_copies_of_one_delivery_are_claimed_once() -> None:
    deliveries = Deliveries(window=60)
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def race() -> None:
        barrier.wait()
        wins.append(deliveries.claim("same"))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
