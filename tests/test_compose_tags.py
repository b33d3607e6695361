"""Compose's ``!reset`` and ``!override`` tags, compared with ``docker compose config`` (real Compose v2, offline).

A service extends a base (in the same file or another one), or a later file of an include's
``path`` list overrides the first, with a value tagged ``!reset`` (a scalar, a list, a mapping,
one key of a mapping, a healthcheck) or ``!override`` (ports, environment, volumes, command):
what the reconciler's checks and config hash read of the result must be Compose's. A tag the
reconciler cannot apply as Compose means it is a ``file:line: field: message`` error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compose_extends import BASE, view

from reconciler.core.errors import SpecError, WorldError
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.spec.compose_file import load_compose

CASES = {
    "reset a scalar": "command: !reset null",
    "reset a list": "ports: !reset []",
    "reset a mapping": "environment: !reset {}",
    "reset a key of a mapping": "environment: {A: !reset null, C: x}",
    "reset the healthcheck and dependencies": "healthcheck: !reset {}\n    depends_on: !reset []",
    "reset labels and dns": 'labels: !reset []\n    dns: !reset ""',
    "override ports": 'ports: !override ["127.0.0.1:18102:82"]',
    "override environment": 'environment: !override {C: "3"}',
    "override volumes": 'volumes: !override ["./logs:/logs"]',
    "override with an anchor": 'environment: &env !override {D: "4"}\n    x-copy: *env',
}
TAIL = "networks:\n  front: {}\n  back: {}\nvolumes:\n  cache: {}\n"


def extending_project(folder: Path, body: str, other_file: bool) -> Path:
    folder.mkdir()
    header = "" if other_file else BASE.removeprefix("services:\n")
    target = "{file: common/base.yaml, service: base}" if other_file else "base"
    if other_file:
        (folder / "common").mkdir()
        (folder / "common" / "base.yaml").write_text(BASE)
    text = f"services:\n{header}  web:\n    extends: {target}\n    {body}\n"
    if other_file:
        text += "  db:\n    image: busybox:1.36\n"
    compose = folder / "compose.yaml"
    compose.write_text(text + TAIL)
    return compose


def included_project(folder: Path, body: str) -> Path:
    """An include whose path lists two files: the second overrides the first's ``web``."""
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "base.yaml").write_text(BASE.replace("  base:\n", "  web:\n") + TAIL)
    override = f"services:\n  web:\n    {body}\n"
    (folder / "part" / "override.yaml").write_text(override)
    compose = folder / "compose.yaml"
    compose.write_text("include:\n  - path: [part/base.yaml, part/override.yaml]\n")
    return compose


@pytest.fixture(scope="module")
def compose() -> ComposeRunner:
    try:
        return ComposeRunner(locate_compose())
    except WorldError:
        pytest.skip("Docker Compose v2 is not installed")


def agree(path: Path, compose: ComposeRunner) -> None:
    ours = load_compose(path, "compose.yaml").services["web"].raw
    theirs = json.loads(compose.config("tags", path.parent, [path], environment={}).text)["services"]["web"]
    assert view(dict(ours)) == view(theirs)


@pytest.mark.parametrize("where", ["same file", "another file", "include override"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_tags_agree_with_compose(name: str, where: str, compose: ComposeRunner, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    if where == "include override":
        path = included_project(folder, CASES[name])
    else:
        path = extending_project(folder, CASES[name], other_file=where == "another file")
    agree(path, compose)


def test_a_reset_changes_what_the_checks_read(tmp_path: Path) -> None:
    """Without the tag the inherited value stays: the reset is what removes it (the test can fail)."""
    tagged = load_compose(extending_project(tmp_path / "a", "healthcheck: !reset {}", False), "compose.yaml")
    plain = load_compose(extending_project(tmp_path / "b", "healthcheck: {}", False), "compose.yaml")
    assert not tagged.services["web"].healthcheck and plain.services["web"].healthcheck
    overridden = load_compose(extending_project(tmp_path / "c", 'ports: !override ["1:1"]', False), "compose.yaml")
    assert overridden.services["web"].raw["ports"] == ["1:1"]


def test_a_whole_service_reset_by_a_later_file_is_gone(compose: ComposeRunner, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / "part").mkdir(parents=True)
    (folder / "part" / "a.yaml").write_text("services:\n  web: {image: busybox:1.36}\n  db: {image: busybox:1.36}\n")
    (folder / "part" / "b.yaml").write_text("services:\n  db: !reset\n")
    path = folder / "compose.yaml"
    path.write_text("include:\n  - path: [part/a.yaml, part/b.yaml]\n")
    theirs = json.loads(compose.config("tags", folder, [path], environment={}).text)["services"]
    assert sorted(load_compose(path, "compose.yaml").services) == sorted(theirs) == ["web"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  web:\n    image: !Ref busybox\n", "compose.yaml:3: services.web.image: the YAML tag !Ref"),
        (
            'services:\n  web:\n    image: busybox\n    ports:\n      - !reset "80:80"\n',
            "compose.yaml:5: services.web.ports[0]: !reset on one list item",
        ),
        ("!override\nservices:\n  web: {image: busybox}\n", "!override on the whole document resets nothing"),
    ],
    ids=["unknown tag", "list item", "whole document"],
)
def test_tags_that_cannot_apply_are_refused_at_their_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_compose(path, "compose.yaml")
    assert message in str(caught.value)
