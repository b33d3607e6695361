"""The bad-input corpus: every folder under cases/ (except _valid) is a broken environment.

Each holds an ``expected.txt``: one substring per line that the error output
must contain (file name and line number included, e.g. ``params.yaml:7``); a
line starting with ``!`` is a substring that must NOT appear (secret values).
"""

from __future__ import annotations

import pytest
from spec_helpers import CASES

from reconciler.core.errors import SpecError
from reconciler.spec.loader import load_environment

BROKEN = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 24


def test_valid_case_loads() -> None:
    loaded = load_environment(CASES / "_valid")
    assert loaded.name == "dev"


@pytest.mark.parametrize("case", BROKEN)
def test_broken_environment_is_rejected(case: str) -> None:
    folder = CASES / case
    lines = [ln for ln in (folder / "expected.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert lines, f"{case}/expected.txt is empty"
    with pytest.raises(SpecError) as caught:
        load_environment(folder, cwd=CASES)
    output = str(caught.value)
    for line in lines:
        if line.startswith("!"):
            assert line[1:] not in output, f"{line[1:]!r} must not appear in:\n{output}"
        else:
            assert line in output, f"{line!r} not in:\n{output}"
    for issue in caught.value.issues:
        assert issue.file, issue


def test_valid_environment_without_aws_loads() -> None:
    loaded = load_environment(CASES / "_valid_no_aws")
    assert loaded.environment.spec.aws is None and not loaded.parameter_sets
