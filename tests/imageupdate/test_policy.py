"""The image policies (reconciler.core.image_policy): Flux's semver, numerical and alphabetical, never back."""

from __future__ import annotations

import pytest

from reconciler.core.image_policy import ImagePolicy, choose, filter_problem, is_newer, newest, range_problem

TS = r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$"
TAGS = ["1.9.0", "2.0.0", "v2.3.1", "2.4.0-rc.1", "2.3", "3.0.0", "latest", "main-abc-17", "main-def-9"]


def semver(text: str, **kw: object) -> ImagePolicy:
    return ImagePolicy(kind="semver", semver_range=text, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (semver(">=2.0.0 <3"), "v2.3.1"),
        (semver("^2.0.0-0"), "v2.3.1"),  # 2.4.0-rc.1 is a pre-release of another version: excluded (npm)
        (semver(">=2.4.0-rc.0 <3"), "2.4.0-rc.1"),
        (semver("~2.3.0"), "v2.3.1"),
        (semver("1.x || >=3"), "3.0.0"),
        (semver("<1"), None),
        (ImagePolicy(kind="numerical", filter_pattern=TS, extract="$ts"), "main-abc-17"),
        (ImagePolicy(kind="numerical", order="desc", filter_pattern=TS, extract="${ts}"), "main-def-9"),
        (ImagePolicy(kind="alphabetical", filter_pattern=r"^main-"), "main-def-9"),
        (ImagePolicy(kind="alphabetical", order="desc", filter_pattern=r"^main-(\w+)-", extract="$1"), "main-abc-17"),
    ],
)
def test_newest(policy: ImagePolicy, expected: str | None) -> None:
    assert newest(policy, TAGS) == expected


def test_equal_versions_keep_the_current_tag_then_the_greatest_string() -> None:
    policy = semver(">=2")
    assert newest(policy, ["2.3.0", "v2.3", "2.3"]) == "v2.3"
    assert newest(policy, ["2.3.0", "v2.3", "2.3"], prefer="2.3.0") == "2.3.0"


def test_choose_moves_forward_only() -> None:
    policy = semver(">=2.0.0 <3")
    assert choose(policy, TAGS, "2.0.0").tag == "v2.3.1"
    assert choose(policy, TAGS, "v2.3.1").tag is None
    kept = choose(policy, TAGS, "3.0.0")  # out of the range, but newer: never downgraded
    assert kept.tag is None and "never downgraded" in kept.reason
    assert choose(policy, TAGS, "latest").tag == "v2.3.1"  # not a version: the policy takes over
    assert choose(policy, ["1.0.0"], "2.0.0").tag is None
    assert "no tag matches" in choose(semver("<1"), TAGS, "2.0.0").reason


def test_is_newer() -> None:
    policy = ImagePolicy(kind="numerical")
    assert is_newer(policy, "10", "9") and not is_newer(policy, "9", "10") and not is_newer(policy, "9", "9")
    assert is_newer(policy, "9", None) and is_newer(policy, "9", "latest")
    assert not is_newer(policy, "nan", "1") and not is_newer(policy, "inf", "1")


def test_malformed_range_and_filter_are_worded() -> None:
    assert range_problem(">=2.0.0 <3") is None
    assert "is not a semver range" in (range_problem(">=2..0") or "")
    assert "must not be empty" in (range_problem("  ") or "")
    assert filter_problem(r"^v(\d+)$", "$1") is None
    assert "not a regular expression" in (filter_problem("(", None) or "")
    assert "names group '2'" in (filter_problem(r"^v(\d+)$", "$2") or "")
