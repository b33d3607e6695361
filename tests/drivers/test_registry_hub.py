"""drivers/registry and the engine against the sandbox's hub: the sandbox registry behind a token
service that behaves like Docker Hub's (anonymous tokens for public repositories, Basic credentials
for private ones, 401 with a Bearer challenge naming the realm, service and scope)."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
import requests

from drivers.worldkit import PushedImage, build_and_push, delete_from_registry, remove_image_refs, uid
from reconciler.core.errors import PermanentError
from reconciler.core.model import Sensitive
from reconciler.drivers.docker.engine import DockerEngine
from reconciler.drivers.readonly import ReadOnlySession
from reconciler.drivers.registry.auth import RegistryAuth
from reconciler.drivers.registry.oci import OciRegistry, RegistryCallCounter
from reconciler.sandbox.layout import HUB_PASSWORD, HUB_PRIVATE, HUB_USERNAME

pytestmark = pytest.mark.world

PRIVATE, PUBLIC = "popcon/backend", "popcon/redis"
WRONG = "dckr_pat_not-the-token"


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with ReadOnlySession() as s:  # tag resolution only reads: tokens too are GETs
        yield s


def hub_registry(sandbox, http: requests.Session, password: str | None = None) -> OciRegistry:  # type: ignore[no-untyped-def]
    login = (HUB_USERNAME, Sensitive(password)) if password is not None else None
    return OciRegistry(http, sandbox.hub, insecure=True, credentials=login)


def test_the_hub_challenges_like_docker_hub(sandbox) -> None:  # type: ignore[no-untyped-def]
    assert PRIVATE in HUB_PRIVATE and PUBLIC not in HUB_PRIVATE
    resp = requests.head(f"http://{sandbox.hub}/v2/{PUBLIC}/manifests/7.2", timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == (
        f'Bearer realm="http://{sandbox.hub}/token",service="sandbox-hub",scope="repository:{PUBLIC}:pull"'
    )
    assert requests.put(f"http://{sandbox.hub}/v2/{PUBLIC}/manifests/x", timeout=10).status_code == 405


def test_a_public_repository_resolves_anonymously(sandbox, http: requests.Session) -> None:  # type: ignore[no-untyped-def]
    counter = RegistryCallCounter().attach(http)
    registry = hub_registry(sandbox, http)
    assert registry.resolve(PUBLIC, ["7.2", "no-such-tag"]) == {"7.2": sandbox.images[f"{PUBLIC}:7.2"]}
    # one challenge, one token, then one HEAD per tag with it
    assert counter.calls[("GET", sandbox.hub)] == 1 and counter.calls[("HEAD", sandbox.hub)] == 3


def test_a_private_repository_needs_credentials(sandbox, http: requests.Session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentError) as denied:
        hub_registry(sandbox, http).resolve(PRIVATE, ["2.1.0"])
    message = str(denied.value)
    assert f"registry {sandbox.hub}" in message and f"access to {PRIVATE}:2.1.0 denied (HTTP 401)" in message
    assert "the repository is private (give the registry credentials)" in message

    resolved = hub_registry(sandbox, http, HUB_PASSWORD).resolve(PRIVATE, ["2.1.0", "2.2.0"])
    assert resolved == {t: sandbox.images[f"{PRIVATE}:{t}"] for t in ("2.1.0", "2.2.0")}


def test_wrong_credentials_name_the_registry_and_the_realm(sandbox, http: requests.Session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentError) as refused:
        hub_registry(sandbox, http, WRONG).resolve(PUBLIC, ["7.2"])
    message = str(refused.value)
    assert f"registry {sandbox.hub}" in message
    assert f"token service http://{sandbox.hub}/token refused the credentials of user '{HUB_USERNAME}'" in message
    assert "HTTP 401" in message and WRONG not in message and WRONG not in repr(refused.value)


def test_credentials_never_go_to_a_plain_http_realm_of_a_tls_registry(http: requests.Session) -> None:
    registry = OciRegistry(http, "registry.invalid", insecure=False, credentials=(HUB_USERNAME, Sensitive(WRONG)))
    challenge = 'Bearer realm="http://evil.invalid/token",service="x"'
    with pytest.raises(PermanentError) as refused:
        registry._token(challenge, "repository:a:pull")
    assert "will not send credentials over plain http to http://evil.invalid/token" in str(refused.value)


@pytest.fixture()
def private_image(sandbox, docker_api: docker.APIClient) -> Iterator[PushedImage]:  # type: ignore[no-untyped-def]
    """private/test-<uuid>/app:1 in the sandbox registry (private on the hub), not in the engine."""
    image = build_and_push(docker_api, sandbox.registry, f"private/test-{uid()}/app", ("1",))
    remove_image_refs(docker_api, image)
    yield image
    remove_image_refs(docker_api, PushedImage(sandbox.hub, image.repository))
    delete_from_registry(image)


def test_the_engine_pulls_through_the_token_flow(
    sandbox, docker_api: docker.APIClient, private_image: PushedImage
) -> None:  # type: ignore[no-untyped-def]
    """docker pull does the token flow itself: anonymous is refused for a private repository, wrong
    credentials are a permanent error that does not show them, the right ones (auth_config, as the
    executor hands them) are accepted."""
    engine = DockerEngine(docker_api)
    through_hub = PushedImage(sandbox.hub, private_image.repository, private_image.digests)
    reference = through_hub.pinned("1")
    with pytest.raises(PermanentError) as denied:
        engine.pull(reference)
    assert "pull access denied" in str(denied.value)
    with pytest.raises(PermanentError) as refused:
        engine.pull(reference, RegistryAuth(HUB_USERNAME, Sensitive(WRONG), sandbox.hub))
    assert "incorrect username or password" in str(refused.value) and WRONG not in str(refused.value)
    auth = RegistryAuth(HUB_USERNAME, Sensitive(HUB_PASSWORD), sandbox.hub)
    assert engine.pull(reference, auth) is True
    assert engine.pull(reference, auth) is False  # already present
