"""A corpus of small compose projects as people write them, each run through ``validate`` and ``plan``
and compared with ``docker compose config`` on the same input.

Each folder of ``tests/compose_corpus`` is a compose project (include, extends across files, paths
naming variables, ``!reset`` and ``!override``, subfolders one and two levels down, a build-only
service, ``.env``, unset and defaulted variables, profiles, anchors and merge keys, ``x-``
extensions, secrets and configs, env_file, ``~``, absolute and ``../`` paths) with a ``case.yaml``:
the compose file, the values a ParameterSet gives the stack, our verdict and, for a refusal, a line
of our message. The test makes it an environment (an Environment, a ParameterSet, a ComposeStack)
and compares, with real Compose v2 run as the reconciler runs it (the stack's values in its
environment, no ``.env``):

* the verdict: we accept exactly when Compose accepts, but for the documented differences
  (``differs``: an unset variable Compose only warns about, a build-only service, ...);
* when accepted: the services (our desired state and the plan, made against the sandbox's engine
  and moto, read-only) are Compose's, and so are the resolved paths: bind-mount sources, build
  contexts and the env files (each holds a marker Compose must have put in the environment).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from reconciler import app
from reconciler.core.actions import CreateService
from reconciler.core.errors import SpecError, WorldError
from reconciler.core.model import ServiceSpec, StackSpec
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.sandbox import layout
from reconciler.sandbox.lifecycle import SandboxInfo
from reconciler.spec.interpolation import substitute

CORPUS = Path(__file__).parent / "compose_corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yaml").is_file())


def make_environment(case: str, root: Path) -> dict[str, object]:
    """The corpus project ``case`` copied to ``root`` as an environment folder; its case.yaml."""
    spec = yaml.safe_load((CORPUS / case / "case.yaml").read_text())
    shutil.copytree(CORPUS / case, root, ignore=shutil.ignore_patterns("case.yaml"))
    prefix = f"/corpus-{uuid.uuid4().hex[:8]}"
    (root / "environment.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: Environment\nmetadata: {name: corpus}\n"
        f"spec:\n  aws: {{region: ap-northeast-2}}\n  parameterPrefix: {prefix}\n"
        "  registry: {type: oci, url: 127.0.0.1:5000, insecure: true}\n"
    )
    params = spec.get("params") or {}
    sets = ""
    if params:
        (root / "params.yaml").write_text(
            "apiVersion: reconciler.dev/v1alpha1\nkind: ParameterSet\nmetadata: {name: config}\n"
            f"spec:\n  path: {prefix}/config\n  parameters:\n"
            + "".join(f'    {k}: "{v}"\n' for k, v in params.items())
        )
        sets = "  parameterSets: [config]\n"
    (root / "stack.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: app}\n"
        f"spec:\n  composeFile: {spec['composeFile']}\n{sets}"
    )
    return dict(spec)


def compose_config(root: Path, spec: dict[str, object]) -> dict[str, object] | str:
    """Compose's resolved project (or its error), run as the reconciler runs it."""
    compose_file = root / str(spec["composeFile"])
    values = {str(k): str(v) for k, v in (spec.get("params") or {}).items()}
    try:
        done = ComposeRunner(locate_compose()).config("corpus-app", compose_file.parent, [compose_file],
                                                      environment=values)  # fmt: skip
    except WorldError as error:
        return error.message
    if any("variable is not set" in w for w in done.warnings):
        return "warns: " + " ".join(done.warnings)
    parsed: dict[str, object] = json.loads(done.text)
    return parsed


def resolved_paths(
    service: ServiceSpec, stack: StackSpec, values: dict[str, str | None]
) -> tuple[list[str], str | None, list[Path]]:
    """Our reading of a service's paths: bind-mount sources, build context and env files, resolved
    (variables interpolated with the stack's ``values``)."""
    definition = json.loads(service.definition)

    def place(path: str) -> str:
        path = substitute(path, values)
        if path.startswith("~"):
            return os.path.expanduser(path)
        return os.path.normpath(stack.project_dir / path)

    binds = []
    for entry in definition.get("volumes") or []:
        if isinstance(entry, str) and entry.split(":")[0].startswith((".", "/", "~")):
            binds.append(place(entry.split(":")[0]))
        elif isinstance(entry, dict) and entry.get("type") == "bind":
            binds.append(place(entry["source"]))
    build = definition.get("build")
    context = build.get("context", ".") if isinstance(build, dict) else build
    env_files = definition.get("env_file") or []
    env_files = [env_files] if isinstance(env_files, str) else env_files
    return sorted(binds), place(context) if context else None, [Path(place(p)) for p in env_files]


def their_paths(service: dict[str, object]) -> tuple[list[str], str | None]:
    volumes = service.get("volumes") or []
    binds = sorted(v["source"] for v in volumes if isinstance(v, dict) and v.get("type") == "bind")
    build = service.get("build")
    return binds, build.get("context") if isinstance(build, dict) else None


@pytest.mark.parametrize("case", CASES)
def test_validate_and_plan_agree_with_compose(case: str, tmp_path: Path, sandbox: SandboxInfo) -> None:
    root = tmp_path / case
    spec = make_environment(case, root)
    truth = compose_config(root, spec)
    state_dir = tmp_path / "state"
    try:
        app.validate(root, state_dir)
    except SpecError as error:
        ours, message = "refused", str(error)
    else:
        ours, message = "accepted", ""
    assert ours == spec["verdict"], message
    if spec.get("differs"):  # a documented difference: Compose accepts, we refuse
        assert isinstance(truth, dict) and ours == "refused", truth
    else:
        assert (ours == "accepted") == isinstance(truth, dict), (truth, message)
    if ours == "refused":
        assert str(spec["message"]) in message, message
        assert "Traceback" not in message
        return
    assert isinstance(truth, dict)
    their_services: dict[str, dict[str, object]] = truth["services"]

    ctx = app.open_environment(root, layout.overrides(state_dir=state_dir), read_only=True)
    try:
        result = ctx.plan()
    finally:
        ctx.close()
    (stack,) = result.desired.stacks
    assert sorted(s.name for s in stack.services) == sorted(their_services)
    created = sorted(a.service for a in result.plan.actions if isinstance(a, CreateService))
    assert created == sorted(their_services) and not result.plan.problems
    (unit,) = [u for u in result.plan.units if u.compose is not None]
    assert unit.compose is not None and unit.compose.project_dir == stack.project_dir
    for service in stack.services:
        values: dict[str, str | None] = {str(k): str(v) for k, v in (spec.get("params") or {}).items()}
        binds, context, env_files = resolved_paths(service, stack, values)
        theirs = their_services[service.name]
        assert (binds, context) == their_paths(theirs), service.name
        environment = theirs.get("environment") or {}
        for env_file in env_files:
            for line in env_file.read_text().splitlines():
                key, _, value = line.partition("=")
                assert environment.get(key) == value, (service.name, env_file, line)


def test_the_corpus_covers_what_people_write() -> None:
    """The corpus keeps its range: accepted and refused projects, and the features the issue lists."""
    text = " ".join(p.read_text() for p in CORPUS.rglob("*") if p.is_file())
    for feature in ("include:", "project_directory:", "env_file", "extends:", "profiles:", "<<: *", "x-",
                    "secrets:", "configs:", "build:", "${", ":-", "~/", "../", "!reset", "!override"):  # fmt: skip
        assert feature in text, feature
    verdicts = {yaml.safe_load((CORPUS / c / "case.yaml").read_text())["verdict"] for c in CASES}
    assert verdicts == {"accepted", "refused"} and len(CASES) >= 10


def test_services_compose_has_and_the_reconciler_does_not_are_refused(tmp_path: Path) -> None:
    """COMPOSE_PROFILES reaching Compose (a stack value) enables a profile the reconciler never
    deploys: Compose's project and ours differ, and validate says so rather than deploy half of it."""
    root = tmp_path / "project"
    make_environment("anchors-profiles-secrets", root)
    params = root / "params.yaml"
    params.write_text(params.read_text() + '    COMPOSE_PROFILES: "debug"\n')
    with pytest.raises(SpecError) as caught:
        app.validate(root, tmp_path / "state")
    assert "Compose's project has service(s) debug the reconciler does not deploy" in str(caught.value)
