"""Our verdict on a compose file against Compose's own (``docker compose config``, offline, real Compose v2).

Each case is a small compose file with the values a stack gets (a ParameterSet's keys, a host's
variables). Compose runs it as the reconciler runs it (those values in its environment, no
``.env``) and says: ok, a warning that a variable is not set (it substitutes an empty string) or
an error. The rule we keep: where Compose warns about unset variables we refuse exactly those
variables; where Compose fails on a required ``${VAR:?err}`` we refuse that variable; where
Compose is fine we accept. Deliberate differences (specs/composestack.md) are marked: a service
with ``build:`` and no ``image:`` (Compose builds it, we refuse: the reconciler deploys images).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.core.errors import SpecError, WorldError
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.spec.loader import load_environment

UNSET_WARNING = re.compile(r'The \\?"(\w+)\\?" variable is not set')
OUR_VARIABLE = re.compile(r"variable (\w+)")


@dataclass(frozen=True)
class Case:
    compose: str  # the services' environment entries, or a whole file when it starts with "services:"/"x-"
    params: dict[str, str] = field(default_factory=dict)
    host: dict[str, str] = field(default_factory=dict)
    dotenv: str | None = None
    differs: bool = False  # a documented difference: Compose accepts, we refuse


PARAMS = {"SET_VAR": "value", "REDIS_HOST": "redis"}
HOST = {"EMPTY_HOST_VAR": "", "PORT": "8080"}

CASES: dict[str, Case] = {
    "mistyped variable": Case("X: ${REDIS_HOTS}"),
    "plain $VAR unset": Case("X: $PLAIN_UNSET"),
    "set by a ParameterSet": Case("X: ${SET_VAR} $REDIS_HOST"),
    "set by the host": Case("X: ${PORT}"),
    "empty host variable": Case("X: ${EMPTY_HOST_VAR}"),
    ":- default": Case("X: ${UNSET_A:-fallback}"),
    "- default": Case("X: ${UNSET_A-fallback}"),
    ":+ and +": Case("X: ${UNSET_A:+alt}${UNSET_B+alt}"),
    "$$ escapes": Case("X: $$UNSET_A $${UNSET_B} a $ b"),
    "required :? unset": Case("X: ${UNSET_R:?needed}"),
    "required ? unset": Case("X: ${UNSET_R?needed}"),
    "required :? set": Case("X: ${SET_VAR:?needed}"),
    "required :? empty host variable": Case("X: ${EMPTY_HOST_VAR:?needed}"),
    "required ? empty host variable": Case("X: ${EMPTY_HOST_VAR?needed}"),
    "nested default is evaluated": Case("X: ${SET_VAR:-${NESTED_UNSET}}"),
    "nested default with its own default": Case("X: ${UNSET_A:-${UNSET_B:-deep}}"),
    "keys are not interpolated": Case("${KEY_UNSET}: v"),
    "COMPOSE_PROJECT_NAME is set by Compose": Case("X: ${COMPOSE_PROJECT_NAME}"),
    "HOME comes from the reconciler's process": Case("X: ${HOME}"),
    "unused x- extension": Case(
        "x-unused:\n  driver: ${X_UNSET}\nservices:\n  app:\n    image: busybox\n"
    ),
    "unused x- extension with a default": Case(
        "x-unused:\n  driver: ${X_UNSET:-json-file}\nservices:\n  app:\n    image: busybox\n"
    ),
    "x- extension used through an anchor": Case(
        "x-env: &env\n  E: ${ANCHOR_UNSET}\nservices:\n  app:\n    image: busybox\n    environment: *env\n"
    ),
    "top-level volume name": Case(
        "services:\n  app:\n    image: busybox\n    volumes: [data:/data]\nvolumes:\n  data:\n    name: ${VOL_UNSET}\n"
    ),
    "only in .env": Case("X: ${FROM_DOTENV}", dotenv="FROM_DOTENV=somewhere\n"),
    "build only": Case("services:\n  app:\n    build: .\n", differs=True),
    "build and image": Case("services:\n  app:\n    build: .\n    image: popcon/app:1.0\n"),
}


@pytest.fixture(scope="module")
def compose() -> ComposeRunner:
    try:
        return ComposeRunner(locate_compose())
    except WorldError:
        pytest.skip("Docker Compose v2 is not installed")


def write_environment(root: Path, case: Case) -> Path:
    root.mkdir()
    params = {**PARAMS, **case.params}
    host = {**HOST, **case.host}
    (root / "environment.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\n"
        "spec:\n  aws: {region: ap-northeast-2}\n  parameterPrefix: /app\n"
        "  registry: {type: oci, url: 127.0.0.1:5000}\n"
        "  hosts:\n    web-1:\n      docker: unix:///var/run/docker.sock\n      variables:\n"
        + "".join(f'        {k}: "{v}"\n' for k, v in host.items())
    )
    (root / "params.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ParameterSet\nmetadata: {name: config}\n"
        "spec:\n  path: /app\n  parameters:\n" + "".join(f'    {k}: "{v}"\n' for k, v in params.items())
    )
    (root / "stack.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: app}\n"
        "spec:\n  composeFile: docker-compose.yml\n  parameterSets: [config]\n"
    )
    text = case.compose
    if not text.startswith(("services:", "x-")):
        text = f"services:\n  app:\n    image: busybox\n    environment:\n      {text}\n"
    (root / "docker-compose.yml").write_text(text)
    if case.dotenv is not None:
        (root / ".env").write_text(case.dotenv)
    return root


def compose_verdict(compose: ComposeRunner, root: Path, case: Case) -> tuple[str, set[str]]:
    """("ok" | "warns" | "fails", the variables Compose names), run as the reconciler runs it."""
    environment = {**PARAMS, **case.params, **HOST, **case.host}
    try:
        warnings = compose.config("agreement", root, [root / "docker-compose.yml"], environment=environment).warnings
    except WorldError as error:
        return "fails", set(re.findall(r"required variable (\w+)", error.message))
    unset = {m.group(1) for w in warnings if (m := UNSET_WARNING.search(w))}
    return ("warns" if unset else "ok"), unset


def our_verdict(root: Path) -> tuple[str, set[str], str]:
    try:
        load_environment(root, cwd=root)
    except SpecError as error:
        return "refuses", {m.group(1) for i in error.issues for m in OUR_VARIABLE.finditer(i.message)}, str(error)
    return "accepts", set(), ""


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_verdict_agrees_with_compose(name: str, compose: ComposeRunner, tmp_path: Path) -> None:
    case = CASES[name]
    root = write_environment(tmp_path / "env", case)
    theirs, their_names = compose_verdict(compose, root, case)
    ours, our_names, message = our_verdict(root)
    if case.differs:
        assert (theirs, ours) == ("ok", "refuses"), message
    elif theirs == "ok":
        assert ours == "accepts", message
    else:  # Compose warns (and substitutes ""), or fails on a required variable: we refuse those names
        assert ours == "refuses" and our_names == their_names, (theirs, their_names, message)


def test_the_cases_cover_every_verdict(compose: ComposeRunner, tmp_path: Path) -> None:
    verdicts = set()
    for i, case in enumerate(CASES.values()):
        verdicts.add(compose_verdict(compose, write_environment(tmp_path / str(i), case), case)[0])
    assert verdicts == {"ok", "warns", "fails"}


def test_an_external_secret_is_set_for_compose_check(tmp_path: Path) -> None:
    """Compose's offline check gives an external SecureString a stand-in (set, not empty): a
    required ${DB_ROOT_PASSWORD:?err} passes there as it will with the value from SSM."""
    from reconciler.app.compose_check import check_compose_files
    from reconciler.spec.desired import build_desired

    root = tmp_path / "dev"
    shutil.copytree(Path(__file__).parent / "spec" / "cases" / "_valid", root)
    compose_file = root / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("${DB_ROOT_PASSWORD}", "${DB_ROOT_PASSWORD:?from SSM}"))
    desired = build_desired(load_environment(root), lambda _name: "(unchecked)")
    try:
        runner = ComposeRunner(locate_compose())
    except WorldError:
        pytest.skip("Docker Compose v2 is not installed")
    assert check_compose_files(desired, lambda: runner)
