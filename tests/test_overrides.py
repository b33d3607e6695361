"""World overrides (pure): ordered Docker engines, one registry for every image, and what --sandbox stands for.

resolve_settings on the real example environments (prod: web-1, web-2 on ssh engines and ECR); the command
line's merge of --sandbox with explicit flags; a bad value is exit 1 before any call (tests/test_cli_errors.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.app.settings import Overrides, Settings, resolve_settings
from reconciler.cli import arguments
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredState
from reconciler.sandbox import layout
from reconciler.spec.desired import RegistrySettings, build_desired, image_registries
from reconciler.spec.loader import load_environment

REPO = Path(__file__).resolve().parent.parent
PROD = REPO / "examples" / "static-hosts"  # two named hosts
DEV = REPO / "environments" / "dev"
E1, E2, E3 = "tcp://10.9.0.1:2375", "unix:///tmp/e2.sock", "ssh://ops@10.9.0.3"


def resolve(env_dir: Path, overrides: Overrides) -> tuple[DesiredState, Settings]:
    loaded = load_environment(env_dir)
    desired = build_desired(loaded, lambda _name: "pw")
    spec = loaded.environment.spec
    return resolve_settings(desired, image_registries(loaded), spec.aws.region, spec.aws.endpoint_url, overrides)


def engines_of(settings: Settings) -> dict[str, str | None]:
    return {h.name: h.docker_host for h in settings.hosts}


def test_engines_go_to_the_hosts_in_the_order_they_are_declared() -> None:
    desired, settings = resolve(PROD, Overrides(docker_engines=(E1, E2, E3)))
    assert engines_of(settings) == {"web-1": E1, "web-2": E2}  # the third is not needed
    assert [h.docker_host for h in desired.hosts] == [E1, E2]  # what is planned: the same hosts
    assert [dict(h.variables) for h in settings.hosts] == [{"FRONTEND_PORT": "3101"}, {"FRONTEND_PORT": "3102"}]
    _, untouched = resolve(PROD, Overrides())
    assert engines_of(untouched) == {"web-1": "ssh://ec2-user@10.0.1.11", "web-2": "ssh://ec2-user@10.0.1.12"}


def test_a_host_given_by_name_keeps_its_url_and_a_url_for_every_host_wins() -> None:
    _, settings = resolve(PROD, Overrides(docker_hosts=("web-1=tcp://10.9.9.9:2375",), docker_engines=(E1, E2)))
    assert engines_of(settings) == {"web-1": "tcp://10.9.9.9:2375", "web-2": E2}  # web-2 keeps its place
    _, settings = resolve(PROD, Overrides(docker_hosts=("web-2=tcp://10.9.9.9:2375",), docker_engines=(E1,)))
    assert engines_of(settings) == {"web-1": E1, "web-2": "tcp://10.9.9.9:2375"}  # one engine is enough
    _, settings = resolve(PROD, Overrides(docker_hosts=("unix:///tmp/all.sock",), docker_engines=(E1,)))
    assert engines_of(settings) == {"web-1": "unix:///tmp/all.sock", "web-2": "unix:///tmp/all.sock"}


def test_too_few_engines_names_the_environment_and_both_counts() -> None:
    with pytest.raises(ReconcilerError) as caught:
        resolve(PROD, Overrides(docker_engines=(E1,)))
    assert str(caught.value) == (
        "environment prod has 2 hosts (web-1, web-2) but 1 Docker engine given (--docker-engine)"
    )
    with pytest.raises(ReconcilerError, match=r"has 2 hosts .* but 1 Docker engine given \(from somewhere\)"):
        resolve(PROD, Overrides(docker_hosts=("web-1=tcp://10.9.9.9:2375",), docker_engines=(E1,),
                                engines_from="from somewhere"))  # fmt: skip  # web-2 takes the second engine


@pytest.mark.parametrize(
    ("given", "host", "insecure"),
    [
        ("http://127.0.0.1:5000", "127.0.0.1:5000", True),
        ("mirror.example.com:5443", "mirror.example.com:5443", False),
        ("https://mirror.example.com", "mirror.example.com", False),
        ("http://[::1]:5000/", "[::1]:5000", True),
    ],
)
def test_a_registry_override_serves_every_image(given: str, host: str, insecure: bool) -> None:
    desired, settings = resolve(PROD, Overrides(registry=given))
    expected = RegistrySettings("oci", host, insecure, None, "ap-northeast-2")
    assert set(settings.registries.values()) == {expected}
    assert set(settings.registries) == {i.name for i in desired.images}
    assert {i.registry for i in desired.images} == {host}
    images = [svc.image for stack in desired.stacks for svc in stack.services if svc.image is not None]
    assert images and {i.registry for i in images} == {host}  # what the services pull
    _, untouched = resolve(PROD, Overrides())
    assert {r.type for r in untouched.registries.values()} == {"ecr"}


def test_the_sandbox_hands_ordinary_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_SANDBOX_MOTO_PORT", "14566")
    monkeypatch.setenv("RECONCILER_SANDBOX_REGISTRY_PORT", "15000")
    monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", "2")
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/main.sock")
    given = layout.overrides(state_dir=Path("/tmp/state"))
    assert given == Overrides(
        aws_endpoint_url="http://127.0.0.1:14566",
        docker_engines=("unix:///tmp/main.sock", "unix:///run/reconciler-sandbox/host-1/docker.sock"),
        engines_from=layout.ENGINES_FROM,
        registry="http://127.0.0.1:15000",
        state_dir=Path("/tmp/state"),
        fleet_docker="ssh://root@{privateIp}",
    )
    desired, settings = resolve(PROD, given)
    assert settings.aws_endpoint_url == "http://127.0.0.1:14566"
    assert engines_of(settings) == dict(zip(("web-1", "web-2"), given.docker_engines, strict=True))
    sandbox_registry = RegistrySettings("oci", "127.0.0.1:15000", True, None, "ap-northeast-2")  # plain http
    assert set(settings.registries.values()) == {sandbox_registry}
    assert {i.registry for i in desired.images} == {"127.0.0.1:15000"}
    assert settings.state_dir == Path("/tmp/state")
    _, dev = resolve(DEV, given)
    assert engines_of(dev) == {"default": "unix:///tmp/main.sock"}


def test_too_few_sandbox_engines_says_how_to_get_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_SANDBOX_ENGINES", "1")
    with pytest.raises(ReconcilerError) as caught:
        resolve(PROD, layout.overrides())
    message = str(caught.value)
    assert "environment prod has 2 hosts" in message and "1 Docker engine given" in message
    assert "RECONCILER_SANDBOX_ENGINES" in message and "`reconciler sandbox up`" in message


def overrides_of(*argv: str) -> Overrides:
    return arguments.overrides(arguments.parser().parse_args(["plan", "env", *argv]))


def test_the_command_line_puts_explicit_flags_over_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_SANDBOX", raising=False)
    monkeypatch.delenv("RECONCILER_AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("RECONCILER_DOCKER_HOST", raising=False)
    sandbox = layout.overrides()
    assert overrides_of("--sandbox") == sandbox
    mine = overrides_of("--sandbox", "--registry", "mirror:5443", "--docker-engine", E1, "--docker-engine", E2,
                        "--aws-endpoint-url", "https://aws.example.com")  # fmt: skip
    assert mine == Overrides(aws_endpoint_url="https://aws.example.com", docker_engines=(E1, E2),
                             registry="mirror:5443", fleet_docker=layout.FLEET_DOCKER)  # fmt: skip
    assert overrides_of("--sandbox", "--fleet-docker", "ssh://ops@{privateDnsName}").fleet_docker == (
        "ssh://ops@{privateDnsName}"
    )
    partly = overrides_of("--sandbox", "--registry", "http://127.0.0.1:5999")
    assert partly.registry == "http://127.0.0.1:5999"
    assert (partly.aws_endpoint_url, partly.docker_engines) == (sandbox.aws_endpoint_url, sandbox.docker_engines)
    assert overrides_of("--docker-engine", E1, "--registry", "r.example.com") == Overrides(
        docker_engines=(E1,), registry="r.example.com"
    )
    assert overrides_of() == Overrides()
