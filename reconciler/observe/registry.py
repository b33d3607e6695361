"""Resolve image tags to the digests registries serve now; ECR login for pulls. Does I/O.

Two resolvers share one shape, ``resolve(repository, tags) -> {tag: digest}``
(a tag that does not exist is simply absent):

* :class:`OciRegistry` speaks the Docker/OCI distribution HTTP API: one
  ``HEAD /v2/<repo>/manifests/<tag>`` per tag (what ``docker pull`` of an
  unchanged image costs), anonymous Bearer tokens when the registry asks.
* :class:`EcrRegistry` makes ONE DescribeImages call per repository for all
  wanted tags; only when a tag is missing (ECR then fails the whole call) does
  it fall back to listing the repository's tagged images.

:func:`resolve_digests` groups the wanted :class:`~reconciler.model.ImageRef`
values by repository and returns ``{ImageRef.key: digest}``; a ref pinned by
digest maps to its own digest without a call.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import requests
from botocore.exceptions import ClientError

from reconciler.drivers.aws import error_code, translate_errors
from reconciler.errors import WorldError
from reconciler.model import ImageRef, Sensitive

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
DEFAULT_TIMEOUT = 10.0
ECR_BATCH = 100  # DescribeImages imageIds limit


class Resolver(Protocol):
    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        """Digest for each tag that exists; missing tags are absent."""
        ...


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for pulling from one registry (the password is masked when printed)."""

    username: str
    password: Sensitive
    server: str

    def docker_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password.reveal(), "serveraddress": self.server}


# --------------------------------------------------------------------------
# OCI / Docker distribution API
# --------------------------------------------------------------------------

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class OciRegistry:
    def __init__(
        self,
        session: requests.Session,
        host: str,
        insecure: bool = False,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self.host = host
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self._timeout = timeout
        self._tokens: dict[str, str] = {}  # scope -> bearer token

    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for tag in dict.fromkeys(tags):
            digest = self.digest(repository, tag)
            if digest is not None:
                found[tag] = digest
        return found

    def digest(self, repository: str, reference: str) -> str | None:
        """Digest of ``repository:reference`` (a tag or a digest), None when not found."""
        url = f"{self.base}/v2/{repository}/manifests/{reference}"
        resp = self._request("HEAD", url, repository)
        if resp.status_code == 404:
            return None
        self._check(resp, repository, reference)
        digest = resp.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        # Some registries omit the header on HEAD: the digest is the sha256 of the manifest body.
        resp = self._request("GET", url, repository)
        if resp.status_code == 404:
            return None
        self._check(resp, repository, reference)
        return (
            resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(resp.content).hexdigest()
        )

    def _request(self, method: str, url: str, repository: str) -> requests.Response:
        scope = f"repository:{repository}:pull"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        resp = self._send(method, url, headers)
        if resp.status_code == 401 and scope not in self._tokens:
            challenge = resp.headers.get("WWW-Authenticate", "")
            if not challenge.lower().startswith("bearer "):
                raise WorldError(
                    f"registry {self.host}",
                    "asks for credentials (basic auth), which are not supported for tag resolution",
                )
            self._tokens[scope] = self._anonymous_token(challenge, scope)
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            resp = self._send(method, url, headers)
        return resp

    def _send(self, method: str, url: str, headers: Mapping[str, str]) -> requests.Response:
        try:
            return self._session.request(method, url, headers=dict(headers), timeout=self._timeout)
        except requests.ConnectionError:
            raise WorldError(
                f"registry {self.host}", f"cannot connect to {self.base}: is the registry running?"
            ) from None
        except requests.Timeout:
            raise WorldError(f"registry {self.host}", f"{self.base} did not answer in time") from None
        except requests.RequestException as exc:
            raise WorldError(f"registry {self.host}", f"request failed: {type(exc).__name__}") from None

    def _anonymous_token(self, challenge: str, scope: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise WorldError(f"registry {self.host}", "sent a Bearer challenge without a realm")
        query = {"service": params.get("service", ""), "scope": params.get("scope", scope)}
        try:
            resp = self._session.get(realm, params=query, timeout=self._timeout)
        except requests.RequestException:
            raise WorldError(f"registry {self.host}", f"cannot reach its token service {realm}") from None
        if resp.status_code != 200:
            raise WorldError(
                f"registry {self.host}",
                f"token service {realm} refused anonymous access (HTTP {resp.status_code})",
            )
        body: Any = resp.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise WorldError(f"registry {self.host}", f"token service {realm} returned no token")
        return str(token)

    def _check(self, resp: requests.Response, repository: str, reference: str) -> None:
        if resp.status_code == 200:
            return
        what = f"registry {self.host}"
        if resp.status_code in (401, 403):
            raise WorldError(what, f"access to {repository}:{reference} denied (HTTP {resp.status_code})")
        raise WorldError(what, f"unexpected HTTP {resp.status_code} for {repository}:{reference}")


# --------------------------------------------------------------------------
# Amazon ECR
# --------------------------------------------------------------------------


class EcrRegistry:
    def __init__(self, ecr: ECRClient, registry_id: str | None = None) -> None:
        self._ecr = ecr
        self._registry_id = registry_id

    def _ids(self) -> dict[str, str]:
        return {"registryId": self._registry_id} if self._registry_id else {}

    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(tags))
        found: dict[str, str] = {}
        with translate_errors(f"ecr {repository}"):
            try:
                for start in range(0, len(wanted), ECR_BATCH):
                    chunk = wanted[start : start + ECR_BATCH]
                    resp = self._ecr.describe_images(
                        repositoryName=repository,
                        imageIds=[{"imageTag": t} for t in chunk],
                        **self._ids(),  # type: ignore[arg-type]
                    )
                    _collect(resp.get("imageDetails", []), set(chunk), found)
            except ClientError as exc:
                code = error_code(exc)
                if code == "RepositoryNotFoundException":
                    return {}
                if code != "ImageNotFoundException":
                    raise
                found = self._list_tagged(repository, set(wanted))
        return found

    def _list_tagged(self, repository: str, wanted: set[str]) -> dict[str, str]:
        """Fallback when a tag is missing: page through the repository's tagged images."""
        found: dict[str, str] = {}
        paginator = self._ecr.get_paginator("describe_images")
        pages = paginator.paginate(
            repositoryName=repository,
            filter={"tagStatus": "TAGGED"},
            PaginationConfig={"PageSize": 1000},
            **self._ids(),  # type: ignore[arg-type]
        )
        for page in pages:
            _collect(page.get("imageDetails", []), wanted, found)
            if wanted <= found.keys():
                break
        return found

    def login(self) -> RegistryAuth:
        """Pull credentials from GetAuthorizationToken (valid 12 hours)."""
        with translate_errors("ecr authorization"):
            kwargs: dict[str, Any] = {"registryIds": [self._registry_id]} if self._registry_id else {}
            data = self._ecr.get_authorization_token(**kwargs)["authorizationData"]
        if not data:
            raise WorldError("ecr authorization", "GetAuthorizationToken returned no token")
        token = base64.b64decode(data[0]["authorizationToken"]).decode()
        username, _, password = token.partition(":")
        return RegistryAuth(username=username, password=Sensitive(password), server=data[0]["proxyEndpoint"])


def _collect(details: Sequence[Any], wanted: set[str], found: dict[str, str]) -> None:
    for detail in details:
        for tag in detail.get("imageTags", []) or []:
            if tag in wanted:
                found[tag] = str(detail["imageDigest"])


def cached_logins(logins: Mapping[str, Callable[[], RegistryAuth]]) -> Callable[[str], RegistryAuth | None]:
    """Registry host -> pull credentials, each login made at most once (e.g. ``EcrRegistry.login``);
    hosts without an entry get None (anonymous pulls)."""
    cache: dict[str, RegistryAuth] = {}

    def auth_for(registry: str) -> RegistryAuth | None:
        if registry not in logins:
            return None
        if registry not in cache:
            cache[registry] = logins[registry]()
        return cache[registry]

    return auth_for


# --------------------------------------------------------------------------
# all refs at once
# --------------------------------------------------------------------------


def resolve_digests(refs: Sequence[ImageRef], resolver_for: Callable[[ImageRef], Resolver]) -> dict[str, str]:
    """``{ImageRef.key: digest}`` for every ref whose tag exists (pinned refs map to themselves)."""
    result: dict[str, str] = {}
    groups: dict[tuple[str, str], list[ImageRef]] = {}
    for ref in refs:
        if ref.digest:
            result[ref.key] = ref.digest
        elif ref.tag:
            groups.setdefault((ref.registry, ref.repository), []).append(ref)
    for (_, repository), members in groups.items():
        digests = resolver_for(members[0]).resolve(repository, [r.tag for r in members if r.tag])
        for ref in members:
            if ref.tag in digests:
                result[ref.key] = digests[ref.tag]
    return result
