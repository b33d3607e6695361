"""``extends`` merged as Compose merges it, compared with ``docker compose config`` (real Compose v2, offline).

Each case is a base service (in the same file or another one) and a service extending it; the
parts of the merged service the reconciler's checks and config hash read must be Compose's: the
image, whether it has a healthcheck (``healthcheck.disable``, ``test: [NONE]``), its dependencies
and their conditions, its networks, the environment (merged by key), labels, the published ports
and dns entries (appended), the mount targets and the command (replaced). And a change in an
included or extended file changes the config hash of exactly the services it defines.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from planner.build import observed_state
from test_compose_corpus import make_environment

from reconciler.core.errors import WorldError
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.planner.targets import service_targets
from reconciler.spec.compose_file import load_compose
from reconciler.spec.compose_services import has_healthcheck
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

BASE = """\
services:
  base:
    image: busybox:1.36
    command: ["sleep", "1"]
    environment: {A: "1", B: "2"}
    labels: [team=core]
    ports: ["127.0.0.1:18100:80"]
    dns: [10.0.0.1]
    volumes: ["./data:/data", "cache:/cache"]
    networks: [front]
    depends_on: [db]
    healthcheck: {test: ["CMD", "true"], interval: 5s}
  db:
    image: busybox:1.36
"""

CASES = {
    "nothing added": "{}",
    "scalars and lists": '{image: "busybox:latest", ports: ["127.0.0.1:18101:81"], dns: [10.0.0.2]}',
    "environment by key, list form": '{environment: ["B=3", "C=4"]}',
    "environment and labels by key": "{environment: {A: null, C: x}, labels: {tier: web}}",
    "command replaced, healthcheck test replaced": '{command: ["sleep", "2"], healthcheck: {test: ["CMD", "false"]}}',
    "healthcheck disabled": "{healthcheck: {disable: true}}",
    "healthcheck NONE": '{healthcheck: {test: ["NONE"]}}',
    "depends_on and networks merged": (
        "{depends_on: {db: {condition: service_completed_successfully}}, networks: {back: {}}}"
    ),
    "volumes appended": '{volumes: ["./logs:/logs"]}',
}


def view(service: dict[str, object]) -> dict[str, object]:
    """What the checks and the hash read of a merged service, normalised to compare ours with Compose's."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    labels = service.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) for item in labels)
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {name: {"condition": "service_started"} for name in depends}
    ports = service.get("ports") or []
    volumes = service.get("volumes") or []
    return {
        "image": service.get("image"),
        "healthcheck": has_healthcheck(service),
        "depends_on": {name: (opts or {}).get("condition") for name, opts in depends.items()},
        "networks": sorted(service.get("networks") or []),
        "environment": env,
        "labels": labels,
        "ports": sorted(p if isinstance(p, str) else f"{p['host_ip']}:{p['published']}:{p['target']}" for p in ports),
        "dns": service.get("dns"),
        "targets": sorted(v.split(":")[1] if isinstance(v, str) else v["target"] for v in volumes),
        "command": service.get("command"),
    }


def write_project(folder: Path, extended: str, other_file: bool) -> Path:
    folder.mkdir()
    header = "" if other_file else BASE.removeprefix("services:\n")
    target = "{file: common/base.yaml, service: base}" if other_file else "base"
    if other_file:
        (folder / "common").mkdir()
        (folder / "common" / "base.yaml").write_text(BASE)
    body = "services:\n" + header + "  web:\n    extends: " + target + "\n"
    for key, value in yaml.safe_load(extended).items():
        body += f"    {key}: {json.dumps(value)}\n"
    if other_file:
        body += "  db:\n    image: busybox:1.36\n"
    body += "networks:\n  front: {}\n  back: {}\nvolumes:\n  cache: {}\n"
    compose = folder / "compose.yaml"
    compose.write_text(body)
    return compose


@pytest.fixture(scope="module")
def compose() -> ComposeRunner:
    try:
        return ComposeRunner(locate_compose())
    except WorldError:
        pytest.skip("Docker Compose v2 is not installed")


@pytest.mark.parametrize("other_file", [False, True], ids=["same file", "another file"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_our_merge_agrees_with_compose(name: str, other_file: bool, compose: ComposeRunner, tmp_path: Path) -> None:
    path = write_project(tmp_path / "project", CASES[name], other_file)
    ours = load_compose(path, "compose.yaml").services["web"].raw
    theirs = json.loads(compose.config("extends", path.parent, [path], environment={}).text)["services"]["web"]
    assert view(dict(ours)) == view(theirs)


CORPUS = Path(__file__).parent / "compose_corpus"


def hashes(root: Path) -> dict[str, str]:
    state = build_desired(load_environment(root), lambda _name: "x")
    (stack,) = state.stacks
    targets = service_targets(stack, state, observed_state({}, state))
    return {name: target.config_hash for name, target in targets.items()}


@pytest.mark.parametrize(
    ("case", "edited", "changes"),
    [
        ("include-and-services", "db/compose.yaml", {"db"}),
        ("include-and-services", "compose.yaml", {"web"}),
        ("extends-across-files", "deploy/common/base.yaml", {"api"}),
    ],
)
def test_a_change_in_an_included_or_extended_file_changes_exactly_its_services(
    case: str, edited: str, changes: set[str], tmp_path: Path
) -> None:
    root = tmp_path / case
    make_environment(case, root)
    before = hashes(root)
    path = root / edited
    text = path.read_text()
    path.write_text(text.replace("    image: busybox:latest\n", "    image: busybox:1.36\n", 1))
    assert path.read_text() != text
    after = hashes(root)
    assert {name for name in before if before[name] != after[name]} == changes
    shutil.rmtree(root)
