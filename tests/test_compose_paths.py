"""Paths naming variables (include, extends, env_file): interpolated as Compose interpolates them, with
the values validate knows; refused, at their ``file:line``, when those values cannot say which file.

``substitute`` is compared with real Compose v2 (``docker compose config``, offline) on the forms
Compose has; the values a path may use are the stack's on every host it runs on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec.spec_helpers import copy_valid

from reconciler.core.errors import SpecError, WorldError
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.spec.interpolation import Unresolved, substitute
from reconciler.spec.loader import load_environment

TEMPLATES = [
    "${A}/x",
    "$A/y",
    "${B:-d${A}}",
    "${E:-def}",
    "${E-def}",
    "${A:+r${A}}",
    "${B:+r}",
    "${B-x}",
    "${E:+r}",
    "${E+r}",
    "a$$b/${A}",
    "${A:?e}",
    "${A-${B:-z}}",
    "${A}${A}",
]
VALUES = {"A": "a", "E": ""}


def test_substitute_agrees_with_compose(tmp_path: Path) -> None:
    try:
        compose = ComposeRunner(locate_compose())
    except WorldError:
        pytest.skip("Docker Compose v2 is not installed")
    labels = "".join(f"      l{i}: {json.dumps(t)}\n" for i, t in enumerate(TEMPLATES))
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: busybox\n    labels:\n{labels}")
    theirs = json.loads(compose.config("paths", tmp_path, [path], environment=VALUES).text)["services"]["web"]
    ours = {f"l{i}": substitute(t, VALUES) for i, t in enumerate(TEMPLATES)}
    assert ours == {k: v.replace("$$", "$") for k, v in theirs["labels"].items()}  # config re-escapes a $


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("${B}", "unset"),
        ("${S}/x", "unknown"),
        ("${S:-d}", "unknown"),
        ("${B:?no}", "required"),
        ("${E:?e}", "required"),
    ],
)
def test_what_the_values_cannot_say_is_unresolved(template: str, why: str) -> None:
    with pytest.raises(Unresolved) as caught:
        substitute(template, {**VALUES, "S": None})
    assert caught.value.why == why
    assert substitute("${S+set}", {"S": None}) == "set"  # whatever S holds


HOSTS = """\
  hosts:
    web-1: {docker: "unix:///var/run/docker.sock", variables: {PARTS: parts, SAME: parts}}
    web-2: {docker: "unix:///var/run/docker.sock", variables: {PARTS: other, SAME: parts}}
"""


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("SAME", None),
        ("PARTS", "names variable PARTS, whose value is not known when validating"),
        ("DB_PASSWORD", "names variable DB_PASSWORD, whose value is not known when validating"),
        ("NOWHERE", "names variable NOWHERE, which is not set for this stack"),
    ],
)
def test_a_path_uses_the_values_of_every_host(variable: str, message: str | None, tmp_path: Path) -> None:
    """A host variable the same on both hosts names the file; one that differs, a secret and an
    unset variable are refused at the include line."""
    env = copy_valid(tmp_path / "env")
    (env / "environment.yaml").write_text((env / "environment.yaml").read_text() + HOSTS)
    (env / "stack.yaml").write_text((env / "stack.yaml").read_text() + "  hosts: [web-1, web-2]\n")
    (env / "parts").mkdir()
    (env / "parts" / "extra.yaml").write_text("services:\n  extra:\n    image: popcon/redis:7.2\n")
    compose = env / "docker-compose.yml"
    compose.write_text(f"include:\n  - ${{{variable}}}/extra.yaml\n" + compose.read_text())
    if message is None:
        assert "extra" in load_environment(env).compose["popcon"].services
        return
    with pytest.raises(SpecError) as caught:
        load_environment(env)
    assert f"docker-compose.yml:2: include[0]: include path '${{{variable}}}/extra.yaml' {message}" in str(caught.value)
