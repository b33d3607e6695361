"""Reading compose files: interpolated variables, depends_on, healthchecks, networks, volumes."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.errors import SpecError
from reconciler.core.model import Dependency
from reconciler.spec.compose_file import load_compose
from reconciler.spec.compose_model import ComposeModel, canonical_json
from reconciler.spec.interpolation import InterpolationError, Reference, references_in, variables_in


def _compose(tmp_path: Path, text: str) -> ComposeModel:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text, encoding="utf-8")
    return load_compose(path, "docker-compose.yml")


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as caught:
        _compose(tmp_path, text)
    return str(caught.value)


# ---- interpolation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("plain", set()),
        ("$A", {"A"}),
        ("${A}", {"A"}),
        ("x${A}y$B-z", {"A", "B"}),
        ("${A:-default}", {"A"}),
        ("${A-default}", {"A"}),
        ("${A:?A is required}", {"A"}),
        ("${A?err}", {"A"}),
        ("${A:+set}", {"A"}),
        ("${A+set}", {"A"}),
        ("${A:-${B:-${C}}}", {"A", "B", "C"}),
        ("${A:-$B}", {"A", "B"}),
        ("${A:-}", {"A"}),
        ("$$", set()),
        ("$$A", set()),
        ("$${A}", set()),
        ("$$$A", {"A"}),
        ("costs $5", set()),
        ("trailing $", set()),
        ("$A_b1.c", {"A_b1"}),
        ("${lower_case}", {"lower_case"}),
        ("jdbc:mysql://${DB_HOST}:${DB_PORT:-3306}/db", {"DB_HOST", "DB_PORT"}),
        ("{braces} ${A} }", {"A"}),
    ],
)
def test_variables_in(text: str, names: set[str]) -> None:
    assert variables_in(text) == names


@pytest.mark.parametrize("text", ["${", "${}", "${1A}", "${A", "${A:=x}", "${A:-x", "${A B}", "${A:-${B}"])
def test_invalid_interpolation(text: str) -> None:
    with pytest.raises(InterpolationError, match="invalid interpolation format"):
        variables_in(text)


@pytest.mark.parametrize(
    ("text", "references"),
    [
        ("$A ${B}", [Reference("A", "set", ""), Reference("B", "set", "")]),
        ("${A:-x}${A-x}${A:+x}${A+x}", [Reference("A", "nothing", f) for f in (":-", "-", ":+", "+")]),
        ("${A:?say why}", [Reference("A", "value", ":?", "say why")]),
        ("${A?}", [Reference("A", "set", "?", "")]),
        ("${A:-${B}}", [Reference("A", "nothing", ":-"), Reference("B", "set", "")]),  # nested: evaluated too
        ("${A:?${B:-x}}", [Reference("A", "value", ":?", "${B:-x}"), Reference("B", "nothing", ":-")]),
        ("$$A $${B} ${A:-$$B}", [Reference("A", "nothing", ":-")]),
    ],
)
def test_references_in_says_what_each_reference_needs(text: str, references: list[Reference]) -> None:
    assert list(references_in(text)) == references


def test_every_value_of_the_file_is_read_for_variables_keys_never(tmp_path: Path) -> None:
    """A reference is listed once per line: a value an alias repeats has its anchor's line."""
    model = _compose(
        tmp_path,
        "x-env: &env\n  E: ${IN_EXTENSION}\n"
        "services:\n  a:\n    image: x\n    environment:\n      <<: *env\n      ${IN_KEY}: v\n"
        "    env_file: []\n    labels: *env\n"
        "volumes:\n  data: {name: '${IN_VOLUME:-data}'}\n",
    )
    assert [(u.reference.name, u.field, u.line) for u in model.uses] == [
        ("IN_EXTENSION", "x-env.E", 2),  # and `labels: *env`, on that line too: listed once
        ("IN_EXTENSION", "services.a.environment.E", 6),  # merged in at the `<<: *env` line
        ("IN_VOLUME", "volumes.data.name", 12),
    ]


def test_invalid_interpolation_outside_services_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "x-logging:\n  driver: ${BAD\nservices:\n  a:\n    image: x\n")
    assert "docker-compose.yml:2: x-logging.driver: invalid interpolation format" in message


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_LITERAL = st.text(alphabet=string.ascii_letters + string.digits + " -:/.,={", max_size=6)
_OPS = st.sampled_from([":-", "-", ":?", "?", ":+", "+"])


def _template(depth: int) -> st.SearchStrategy[tuple[str, frozenset[str]]]:
    """A compose string and the names it interpolates."""
    literal = _LITERAL.map(lambda t: (t, frozenset[str]()))
    escaped = st.just(("$$", frozenset[str]()))
    bare = _NAMES.map(lambda n: (f"${n}/", frozenset({n})))  # '/' ends the name
    braced = _NAMES.map(lambda n: (f"${{{n}}}", frozenset({n})))
    parts = [literal, escaped, bare, braced]
    if depth > 0:
        inner = _template(depth - 1)
        nested = st.tuples(_NAMES, _OPS, inner).map(
            lambda t: (f"${{{t[0]}{t[1]}{t[2][0]}}}", frozenset({t[0]}) | t[2][1])
        )
        parts.append(nested)

    def join(items: list[tuple[str, frozenset[str]]]) -> tuple[str, frozenset[str]]:
        text = "".join(i[0] for i in items)
        names = frozenset().union(*(i[1] for i in items)) if items else frozenset[str]()
        return text, names

    # literals never contain '$' or '}', so the pieces cannot merge into something else
    return st.lists(st.one_of(parts), max_size=5).map(join)


@given(_template(2))
def test_variables_in_finds_exactly_the_names_used(case: tuple[str, frozenset[str]]) -> None:
    text, names = case
    assert variables_in(text) == set(names)


@given(st.text(max_size=40))
def test_variables_in_never_crashes(text: str) -> None:
    try:
        names = variables_in(text)
    except InterpolationError:
        return
    assert all(name and (name[0].isalpha() or name[0] == "_") for name in names)


# ---- services ----------------------------------------------------------------------


def test_service_model(tmp_path: Path) -> None:
    model = _compose(
        tmp_path,
        """
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: web:${TAG:-1}
    environment: ['API=http://api:${API_PORT}']
    depends_on: [api]
    networks: [front, back]
  api:
    image: api
    command: echo $$HOME
    depends_on:
      db: {condition: service_healthy, restart: true}
      init: {condition: service_completed_successfully}
      cache:
    networks:
      back: {aliases: [backend]}
    volumes:
      - data:/data
      - ./conf:/conf:ro
      - /var/log:/log
      - /anonymous
      - type: volume
        source: shared
        target: /shared
      - type: bind
        source: ./x
        target: /x
      - type: tmpfs
        target: /tmp
  db:
    image: db
    healthcheck: {test: [CMD, "true"]}
  init:
    image: init
    network_mode: none
  cache:
    image: cache
    healthcheck: {test: [NONE]}
networks:
  front: {}
  back: {external: true}
volumes:
  data: {}
  shared: {external: true}
""",
    )
    web, api = model.services["web"], model.services["api"]
    assert web.variables == ("API_PORT", "TAG")
    assert web.raw["restart"] == "unless-stopped"  # merge key resolved
    assert web.depends_on == (Dependency("api", "service_started"),)
    assert web.networks == ("back", "front")
    assert api.variables == ()
    assert api.depends_on == (
        Dependency("cache", "service_started"),
        Dependency("db", "service_healthy"),
        Dependency("init", "service_completed_successfully"),
    )
    assert api.networks == ("back",)
    assert api.volumes == ("data", "shared")
    assert model.services["db"].healthcheck is True
    assert model.services["db"].networks == ("default",)
    assert model.services["cache"].healthcheck is False  # test: [NONE]
    assert model.services["init"].networks == ()
    # external networks/volumes are not the project's own
    assert model.networks == ("default", "front")
    assert model.volumes == ("data",)
    assert json.loads(web.definition)["image"] == "web:${TAG:-1}"


def test_definition_is_canonical_json(tmp_path: Path) -> None:
    model = _compose(
        tmp_path, "services:\n  a:\n    image: x\n    ports: [80]\n    environment: {B: '1', A: 2}\n"
    )
    assert model.services["a"].definition == '{"environment":{"A":2,"B":"1"},"image":"x","ports":[80]}'
    assert canonical_json({"b": [1, {"d": 1, "c": None}], "a": True}) == '{"a":true,"b":[1,{"c":null,"d":1}]}'


def test_unused_declared_volume_is_not_listed(tmp_path: Path) -> None:
    model = _compose(tmp_path, "services:\n  a: {image: x}\nvolumes:\n  spare: {}\n")
    assert model.volumes == ()
    assert model.networks == ("default",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the compose file is empty"),
        ("services: {}\n", "docker-compose.yml:1: services: a compose file needs a services: mapping"),
        ("- a\n", "docker-compose.yml:1: a compose file must be a mapping"),
        (
            "services:\n  a: {image: x}\n---\nservices: {}\n",
            "docker-compose.yml:4: a compose file must hold a single",
        ),
        ("services:\n  a:\n", "docker-compose.yml:2: services.a: service 'a' must be a mapping, got nothing"),
        ("services:\n  a: {image: x, depends_on: b}\n", "services.a.depends_on: depends_on must be a list"),
        ("services:\n  a: {image: x, depends_on: {b: x}}\n  b: {image: x}\n", "must be a mapping like"),
        ("services:\n  a: {image: x, depends_on: [a]}\n", "dependency cycle: a -> a"),
        ("services:\n  a: {image: x, depends_on: [3]}\n", "depends_on entries must be service names"),
        ("services:\n  a: {image: x, networks: net}\n", "networks must be a list or a mapping"),
        ("services:\n  a: {image: x}\nnetworks: [x]\n", "docker-compose.yml:3: networks: top-level networks"),
    ],
)
def test_invalid_compose_files(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_all_problems_of_a_compose_file_at_once(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "services:\n"
        "  a:\n    image: x\n    depends_on: [b, ghost]\n"
        "  b:\n    image: x\n    depends_on: {a: {condition: service_healthy}}\n"
        "    environment: ['X=${']\n",
    )
    assert "docker-compose.yml:4: services.a.depends_on[1]: depends on unknown service 'ghost'" in message
    assert (
        "docker-compose.yml:7: services.b.depends_on.a: condition service_healthy, but service 'a'" in message
    )
    assert "docker-compose.yml:8: services.b.environment[0]: invalid interpolation format" in message


def test_one_cycle_is_reported_once(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n"
        "  c: {image: x, depends_on: [a]}\n  d: {image: x, depends_on: [a]}\n",
    )
    assert message.count("dependency cycle") == 1
    assert "a -> b -> c -> a" in message


def test_missing_compose_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="compose file not found"):
        load_compose(tmp_path / "nope.yml", "nope.yml")


# ---- include and extends -----------------------------------------------------------


def test_included_services_are_seen_with_their_own_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "compose.yaml").write_text(
        "services:\n  db:\n    image: busybox\n    volumes: [./data:/data]\n    healthcheck: {test: [CMD, 'true']}\n"
    )
    model = _compose(
        tmp_path,
        "include: [db/compose.yaml]\nservices:\n  web:\n    image: busybox\n"
        "    depends_on: {db: {condition: service_healthy}}\n",
    )
    assert sorted(model.services) == ["db", "web"]  # Compose lists 2 services: so do we
    db = model.services["db"]
    assert (db.display, db.line, db.healthcheck) == ("db/compose.yaml", 2, True)
    assert db.raw["volumes"] == ["./db/data:/data"]  # the included file's folder, seen from the project
    assert model.files == (tmp_path / "docker-compose.yml", tmp_path / "db" / "compose.yaml")


def test_a_file_that_only_includes_is_a_compose_file(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("services:\n  app:\n    image: busybox\n")
    assert list(_compose(tmp_path, "include:\n  - path: app.yaml\n").services) == ["app"]


def test_a_healthcheck_inherited_through_extends_from_another_file_counts(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "services:\n  checked:\n    image: busybox\n    healthcheck: {test: [CMD, 'true']}\n"
    )
    model = _compose(
        tmp_path,
        "services:\n  db:\n    extends: {file: base.yaml, service: checked}\n  web:\n    image: busybox\n"
        "    depends_on: {db: {condition: service_healthy}}\n",
    )
    assert model.services["db"].healthcheck and model.services["db"].raw["image"] == "busybox"
    assert "extends" not in model.services["db"].raw


def test_an_included_file_has_the_compose_files_limits(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("services:\n  a:\n    image: busybox\n" + "# padding\n" * 600_000)
    message = _error(tmp_path, "include: [big.yaml]\nservices:\n  web:\n    image: busybox\n")
    assert "big.yaml: " in message and "a spec or compose file is at most" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("include: other.yaml\nservices: {a: {image: x}}\n", "docker-compose.yml:1: include: include must be a list"),
        ("include: [{project_directory: x}]\nservices: {a: {image: x}}\n", "include[0]: include needs path:"),
        ("include: [missing.yaml]\nservices: {a: {image: x}}\n", "included file 'missing.yaml' not found"),
        ("include: [{path: a.yaml, env_file: nope.env}]\nservices: {a: {image: x}}\n", "env file 'nope.env' not found"),
        ("services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n", "extends cycle: a (docker-"),
        ("services:\n  a:\n    extends: {service: zz}\n", "extends service 'zz', which is not a service there"),
        ("services:\n  a:\n    extends: {file: none.yaml, service: b}\n", "extends file 'none.yaml' not found"),
    ],
)
def test_include_and_extends_problems_are_file_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "a.yaml").write_text("services:\n  other:\n    image: busybox\n")
    assert expected in _error(tmp_path, text)
