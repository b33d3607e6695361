"""Building the DesiredState from a loaded environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec_helpers import CASES, VALID, EnvFactory, edit

from reconciler.core.errors import SpecError
from reconciler.core.model import Dependency, ImageSpec, Sensitive
from reconciler.spec.desired import RegistrySettings, build_desired, image_registries
from reconciler.spec.loader import load_environment

ENV = {"POPCON_DB_PASSWORD": "s3cret-pw"}


def test_parameters() -> None:
    desired = build_desired(load_environment(VALID), ENV.get)
    assert desired.environment == "dev"
    assert desired.owner == "popcon-dev"
    assert [p.name for p in desired.parameters] == [
        "/popcon/dev/CORS_ORIGINS",
        "/popcon/dev/DB_HOST",
        "/popcon/dev/DB_PORT",
        "/popcon/dev/JAVA_OPTS",
        "/popcon/dev/secrets/DB_PASSWORD",
        "/popcon/dev/secrets/DB_ROOT_PASSWORD",
    ]
    cors = desired.parameter("/popcon/dev/CORS_ORIGINS")
    assert cors is not None and cors.value == "http://localhost:3000,https://popcon.example.com"
    assert cors.type == "StringList" and cors.key == "CORS_ORIGINS" and cors.set_name == "popcon-config"
    assert cors.source.endswith("params.yaml:12")
    password = desired.parameter("/popcon/dev/secrets/DB_PASSWORD")
    assert password is not None and password.value == Sensitive("s3cret-pw") and password.managed
    assert isinstance(password.value, Sensitive)
    external = desired.parameter("/popcon/dev/secrets/DB_ROOT_PASSWORD")
    assert external is not None and external.value is None and not external.managed
    assert [(p.path, p.set_name, p.prune, p.decrypt) for p in desired.parameter_paths] == [
        ("/popcon/dev", "popcon-config", True, False),
        ("/popcon/dev/secrets", "popcon-secrets", False, True),
    ]


def test_secret_never_shows_in_the_desired_state() -> None:
    desired = build_desired(load_environment(VALID), ENV.get)
    assert "s3cret-pw" not in repr(desired) and "s3cret-pw" not in str(desired)


def test_images() -> None:
    desired = build_desired(load_environment(VALID), ENV.get)
    assert [i.name for i in desired.images] == ["backend", "frontend", "mysql", "redis"]
    assert desired.images[0] == ImageSpec("backend", "127.0.0.1:5000", "popcon/backend", tag="2.1.0")
    assert desired.images[3].digest == "sha256:" + "0123456789abcdef" * 4 and desired.images[3].tag is None


def test_stack() -> None:
    loaded = load_environment(VALID)
    (stack,) = build_desired(loaded, ENV.get).stacks
    assert stack.name == "popcon" and stack.project == "dev-popcon"
    assert stack.compose_file == VALID.resolve() / "docker-compose.yml" and stack.compose_file.is_absolute()
    assert stack.project_dir == VALID.resolve()
    assert stack.parameter_sets == ("popcon-config", "popcon-secrets")
    assert stack.networks == ("default",) and stack.volumes == ("mysql-data",)
    assert stack.prune_services is True
    assert [s.name for s in stack.services] == ["backend", "frontend", "mysql", "redis"]
    backend = stack.services[0]
    assert backend.image is not None and backend.image.name == "backend"
    assert backend.variables == ("DB_HOST", "DB_PASSWORD", "DB_PORT")
    assert backend.environment_from == ("popcon-config",)
    assert backend.depends_on == (
        Dependency("mysql", "service_healthy"),
        Dependency("redis", "service_healthy"),
    )
    assert backend.healthcheck is False
    assert stack.services[2].healthcheck is True
    definition = json.loads(backend.definition)
    assert definition["environment"]["DB_URL"] == "jdbc:mysql://${DB_HOST}:${DB_PORT:-3306}/popcon"
    assert backend.definition == json.dumps(definition, sort_keys=True, separators=(",", ":"))


def test_defaults_and_services_without_settings(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "environment.yaml", "  ownership: popcon-dev\n", "")
    edit(env, "stack.yaml", "    redis: {image: redis}\n", "")
    edit(env, "stack.yaml", "  parameterSets:", "  project: popcon_dev\n  prune: false\n  parameterSets:")
    desired = build_desired(load_environment(env), ENV.get)
    assert desired.owner == "reconciler-dev"
    (stack,) = desired.stacks
    assert stack.project == "popcon_dev" and stack.prune_services is False
    redis = next(s for s in stack.services if s.name == "redis")
    assert redis.image is None and redis.environment_from == ()


def test_missing_environment_variables_are_all_reported(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "params.yaml", "{type: SecureString, external: true}", "{type: SecureString, fromEnv: ROOT_PW}")
    with pytest.raises(SpecError) as caught:
        build_desired(load_environment(env, cwd=env), dict[str, str]().get)
    message = str(caught.value)
    assert (
        "params.yaml:21: spec.parameters.DB_PASSWORD.fromEnv: "
        "environment variable POPCON_DB_PASSWORD is not set" in message
    )
    assert (
        "params.yaml:22: spec.parameters.DB_ROOT_PASSWORD.fromEnv: environment variable ROOT_PW is not set"
        in message
    )


def test_empty_or_oversized_environment_variable() -> None:
    loaded = load_environment(VALID)
    with pytest.raises(SpecError, match="POPCON_DB_PASSWORD is empty"):
        build_desired(loaded, {"POPCON_DB_PASSWORD": ""}.get)
    with pytest.raises(SpecError, match="holds 4097 bytes") as caught:
        build_desired(loaded, {"POPCON_DB_PASSWORD": "x" * 4097}.get)
    assert "xxxx" not in str(caught.value)


def test_deterministic_whatever_the_file_layout(tmp_path: Path, make_env: EnvFactory) -> None:
    first = build_desired(load_environment(VALID), ENV.get)
    assert build_desired(load_environment(VALID), ENV.get) == first
    # same documents, other files and order: only the paths differ
    env = make_env("other")
    combined = "\n---\n".join(
        (env / name).read_text() for name in ["stack.yaml", "images.yaml", "params.yaml", "environment.yaml"]
    )
    for name in ["stack.yaml", "images.yaml", "params.yaml", "environment.yaml"]:
        (env / name).unlink()
    (env / "all.yaml").write_text(combined)
    other = build_desired(load_environment(env), ENV.get)
    assert other.parameters != first.parameters  # sources differ (file:line) ...
    assert [(p.name, p.value) for p in other.parameters] == [(p.name, p.value) for p in first.parameters]
    assert other.images == first.images and other.parameter_paths == first.parameter_paths
    assert [s.services for s in other.stacks] == [s.services for s in first.stacks]


def test_ecr_registry(make_env: EnvFactory) -> None:
    env = make_env()
    edit(
        env,
        "environment.yaml",
        "    type: oci\n    url: 127.0.0.1:5000\n    insecure: true\n",
        '    type: ecr\n    accountId: "123456789012"\n',
    )
    edit(
        env,
        "images.yaml",
        '    mysql: {repository: popcon/mysql, tag: "8.0"}',
        '    mysql:\n      repository: popcon/mysql\n      tag: "8.0"\n'
        "      registry: {type: ecr, url: 210987654321.dkr.ecr.us-east-1.amazonaws.com}\n",
    )
    edit(
        env,
        "images.yaml",
        '    backend: {repository: popcon/backend, tag: "2.1.0"}',
        '    backend: {repository: popcon/backend, tag: "2.1.0",\n'
        '              registry: {url: "r.example.com", insecure: true}}',
    )
    loaded = load_environment(env)
    registries = image_registries(loaded)
    assert registries["frontend"] == RegistrySettings(
        "ecr", "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com", False, "123456789012", "ap-northeast-2"
    )
    assert registries["mysql"] == RegistrySettings(
        "ecr", "210987654321.dkr.ecr.us-east-1.amazonaws.com", False, "210987654321", "us-east-1"
    )
    assert registries["backend"] == RegistrySettings("oci", "r.example.com", True)
    images = {i.name: i for i in build_desired(loaded, ENV.get).images}
    assert images["frontend"].key == "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/popcon/frontend:1.4.0"
    assert images["mysql"].registry == "210987654321.dkr.ecr.us-east-1.amazonaws.com"


def test_hosts_of_prod_and_the_single_default_host_of_dev() -> None:
    repo = Path(__file__).resolve().parents[2]
    prod = build_desired(load_environment(repo / "examples" / "static-hosts"), lambda _: "pw")
    assert [h.name for h in prod.hosts] == ["web-1", "web-2"]
    assert [h.docker_host for h in prod.hosts] == ["ssh://ec2-user@10.0.1.11", "ssh://ec2-user@10.0.1.12"]
    assert [dict(h.variables) for h in prod.hosts] == [{"FRONTEND_PORT": "3101"}, {"FRONTEND_PORT": "3102"}]
    assert [s.hosts for s in prod.stacks] == [("web-1", "web-2")]
    fleet = build_desired(load_environment(repo / "environments" / "prod"), lambda _: "pw")
    (web,) = fleet.hosts
    assert web.name == "web" and web.fleet is not None and web.fleet.group == "popcon-prod-asg"
    assert web.fleet.docker == "ssh://ec2-user@{privateIp}" and [s.hosts for s in fleet.stacks] == [("web",)]
    dev = build_desired(load_environment(repo / "environments" / "dev"), lambda _: "pw")
    assert [(h.name, h.docker_host) for h in dev.hosts] == [("default", None)]
    assert [s.hosts for s in dev.stacks] == [("default",)]


def test_tls_cert_path_is_relative_to_the_environment_folder(make_env: EnvFactory) -> None:
    text = (VALID / "environment.yaml").read_text()
    text += '  hosts:\n    web-1: {docker: "tcp://10.0.1.11:2376", tls: {certPath: certs/web-1}}\n'
    env = make_env(environment__yaml=text)
    desired = build_desired(load_environment(env), lambda _: "pw")
    (host,) = desired.hosts
    assert host.tls_cert_path == env.resolve() / "certs" / "web-1" and host.tls_verify


def test_an_environment_without_aws_resolves_docker_hub_and_other_registries() -> None:
    loaded = load_environment(CASES / "_valid_no_aws")
    env = {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_TOKEN": "dckr_pat_s3cret"}
    registries = image_registries(loaded, env.get)
    hub = registries["web"]  # repository: nginx in the Environment's registry docker.io, with its credentials
    assert (hub.type, hub.host, hub.api_host, hub.insecure) == ("oci", "docker.io", "registry-1.docker.io", False)
    assert hub.username == "me" and hub.password is not None and hub.password.reveal() == "dckr_pat_s3cret"
    assert "dckr_pat_s3cret" not in repr(hub)
    ghcr = registries["app"]  # image: ghcr.io/org/app:2.0, another host: anonymous
    assert (ghcr.host, ghcr.api_host, ghcr.username, ghcr.password) == ("ghcr.io", "ghcr.io", None, None)
    desired = build_desired(loaded, env.get)
    images = {i.name: i for i in desired.images}
    web, app = images["web"], images["app"]
    assert (web.registry, web.repository, web.tag) == ("docker.io", "library/nginx", "1.27")
    assert (app.registry, app.repository, app.tag) == ("ghcr.io", "org/app", "2.0")
    assert desired.parameters == () and desired.parameter_paths == ()


def test_registry_credentials_not_set_are_spec_errors_naming_the_variable() -> None:
    loaded = load_environment(CASES / "_valid_no_aws")
    with pytest.raises(SpecError) as caught:
        image_registries(loaded, {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_TOKEN": ""}.get)
    message = str(caught.value)
    where = "environment.yaml:8: spec.registry.credentials.passwordFromEnv"
    assert f"{where}: environment variable DOCKERHUB_TOKEN is empty" in message
    assert "DOCKERHUB_USERNAME" not in message
