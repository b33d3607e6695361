"""The command line starts fast: ``--help`` and usage errors load only the standard library.

Run in a fresh interpreter (a subprocess), as a user runs it; what it imported is read from
``sys.modules`` when argparse exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: What must not be imported before a command runs: the clients, the spec models, the renderers.
HEAVY = ("boto3", "botocore", "docker", "rich", "pydantic", "ruamel", "jsonpatch", "requests", "tenacity",
         "reconciler.app", "reconciler.spec", "reconciler.core.model", "reconciler.render",
         "reconciler.core.errors")

_PROBE = """
import json, sys
from reconciler.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_after(*argv: str, env: dict[str, str] | None = None) -> tuple[object, list[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=True, env=None if env is None else {**os.environ, **env})
    result = json.loads(done.stdout.splitlines()[-1])
    return result["code"], result["modules"]


def heavy(modules: list[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in names)]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["plan", "--help"], ["apply", "--help"], ["status", "--help"], ["validate", "--help"],
     ["sandbox", "--help"], [], ["plan"], ["plan", "env", "--format", "yaml"], ["nonsense"]],
    ids=lambda argv: " ".join(argv) or "(none)",
)
def test_help_and_usage_errors_import_no_heavy_module(argv: list[str]) -> None:
    code, modules = modules_after(*argv)
    assert code == (0 if "--help" in argv else 1)
    assert "reconciler.cli" in modules
    assert heavy(modules) == []


def test_the_probe_sees_heavy_imports_when_a_command_runs(tmp_path: Path) -> None:
    """The check above can fail: a command that runs loads the application."""
    code, modules = modules_after("validate", str(tmp_path / "nowhere"))
    assert code == 1
    assert "pydantic" in modules and "reconciler.app.environment" in modules


#: What validating never needs: the AWS, Docker and HTTP clients, and the executor that uses them.
CLIENTS = ("boto3", "botocore", "docker", "requests", "reconciler.executor")


def test_a_first_validate_imports_no_client(tmp_path: Path) -> None:
    """The first validate of a state dir checks the Compose files and saves the cache of the checks
    that passed (a file in the state dir): nothing of that loads a client library."""
    state_dir = tmp_path / "state"
    code, modules = modules_after("validate", "environments/dev", env={"RECONCILER_STATE_DIR": str(state_dir)})
    assert code == 0
    assert (state_dir / "compose-checks.json").is_file()  # the cache was saved
    assert "reconciler.drivers.compose" in modules
    assert heavy(modules, CLIENTS) == []


def test_sandbox_flag_loads_only_the_sandbox_layout(tmp_path: Path) -> None:
    """--sandbox stands for computed overrides: none of the sandbox's daemons or clients is imported."""
    code, modules = modules_after("plan", str(tmp_path / "nowhere"), "--sandbox")
    assert code == 1
    assert "reconciler.sandbox.layout" in modules  # the overrides were asked for (the check can fail)
    sandbox = [m for m in modules if m.startswith("reconciler.sandbox")]
    assert sandbox == ["reconciler.sandbox", "reconciler.sandbox.layout"]
