"""Secret masking (reconciler.core.secrets) as a property: whatever the secret and the text around
it, no masked output holds the secret or any line of it. Pure, plus Compose's error path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import WorldError
from reconciler.core.model import MASK
from reconciler.core.secrets import MIN_LINE, redact
from reconciler.drivers.compose import ComposeRunner

# Secrets with newlines, quotes, $, backslashes and blanks; letters of the mask itself are left
# out so that the mask cannot spell part of a secret.
_CHARS = "abcdfghjklmopqruwxyzABCDFGHJKLMOPQRUWXYZ0123456789 \n\r\t'\"$\\{}!#%&*+,-./:;<=>?@[]^_`|~"
ALPHABET = "".join(sorted(set(_CHARS) - set(MASK)))
secrets_ = st.text(alphabet=ALPHABET, min_size=MIN_LINE, max_size=40).filter(lambda s: len(s.strip()) >= MIN_LINE)
noise = st.text(alphabet=ALPHABET + "éü€\x00", max_size=60)


def pieces(secret: str) -> list[str]:
    """What must never show: the secret and each of its lines that masking promises to cover."""
    found = [secret]
    if "\n" in secret or "\r" in secret:
        found += [line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_LINE]
    return found


@st.composite
def texts_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    secrets = draw(st.lists(secrets_, min_size=1, max_size=3))
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        parts.append(draw(noise))
        secret = draw(st.sampled_from(secrets))
        form = draw(st.sampled_from(["as is", "line", "json", "dollars"]))
        if form == "line":
            lines = [ln for ln in secret.splitlines() if ln.strip()] or [secret]
            parts.append(draw(st.sampled_from(lines)))
        elif form == "json":
            parts.append(json.dumps(secret)[1:-1])
        elif form == "dollars":
            parts.append(secret.replace("$", "$$"))
        else:
            parts.append(secret)
    parts.append(draw(noise))
    return "".join(parts), secrets


PROPERTY = settings(
    max_examples=int(os.environ.get("SECRETS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(texts_with_secrets())
def test_no_masked_text_contains_a_secret_or_a_line_of_one(case: tuple[str, list[str]]) -> None:
    text, secrets = case
    masked = redact(text, secrets)
    for secret in secrets:
        for piece in pieces(secret):
            assert piece not in masked


@PROPERTY
@given(texts_with_secrets(), st.integers(0, 30))
def test_compose_errors_are_masked_before_they_are_cut(case: tuple[str, list[str]], lines_before: int) -> None:
    text, secrets = case
    stderr = "\n".join(f"line {i}" for i in range(lines_before)) + "\n" + text

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    runner = ComposeRunner(["docker", "compose"], run, base_env={})
    with pytest.raises(WorldError) as info:
        runner.up("p", Path("/nonexistent"), [], "web", environment={}, secrets=secrets)
    for secret in secrets:
        for piece in pieces(secret):
            assert piece not in str(info.value)


def test_forms_a_secret_is_printed_in() -> None:
    secret = 'pa"ss$word\nsecond-line'
    assert redact(f"x {secret} y", [secret]) == f"x {MASK} y"
    assert redact('env: "pa\\"ss$word\\nsecond-line"', [secret]) == f'env: "{MASK}"'
    assert redact("PASS=pa\"ss$$word\nsecond-line", [secret]) == f"PASS={MASK}"
    assert redact("only the second-line leaked", [secret]) == f"only the {MASK} leaked"
    assert redact("a short line: ab", ["ab\ncdefg"]) == "a short line: ab"  # shorter than MIN_LINE
