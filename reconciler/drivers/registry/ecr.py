"""Amazon ECR as an image registry: tag -> digest with DescribeImages, and pull logins. Does I/O (boto3).

:class:`EcrRegistry` makes ONE DescribeImages call per repository for all
wanted tags (in batches of 100); only when a tag is missing (ECR then fails
the whole call) does it fall back to listing the repository's tagged images.
A tag or repository that does not exist is simply absent from the answer.
:meth:`EcrRegistry.login` gets pull credentials from GetAuthorizationToken
(valid 12 hours; keep them with :func:`~reconciler.drivers.registry.auth.cached_logins`).
Failures are translated as :mod:`reconciler.drivers.aws.errors` does, naming
the repository and the endpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from reconciler.core.errors import PermanentError
from reconciler.core.model import Sensitive
from reconciler.drivers.aws.errors import endpoint_of, error_code, translate_errors
from reconciler.drivers.aws.retrying import read_retrying
from reconciler.drivers.registry.auth import RegistryAuth

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

ECR_BATCH = 100  # DescribeImages imageIds limit


class EcrRegistry:
    def __init__(self, ecr: ECRClient, registry_id: str | None = None) -> None:
        self._ecr = ecr
        self._registry_id = registry_id
        self.endpoint = endpoint_of(ecr)

    def _ids(self) -> dict[str, str]:
        return {"registryId": self._registry_id} if self._registry_id else {}

    def resolve(self, repository: str, tags: Sequence[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(tags))
        found: dict[str, str] = {}
        with translate_errors(f"ecr {repository}", endpoint=self.endpoint):
            try:
                for start in range(0, len(wanted), ECR_BATCH):
                    chunk = wanted[start : start + ECR_BATCH]
                    resp = read_retrying(  # throttling and 5xx retried, bounded
                        partial(
                            self._ecr.describe_images,
                            repositoryName=repository,
                            imageIds=[{"imageTag": t} for t in chunk],
                            **self._ids(),  # type: ignore[arg-type]
                        )
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

    def tags(self, repository: str, page_size: int = 1000) -> dict[str, str] | None:
        """Every tag of ``repository`` -> its digest (None when the repository does not exist): one
        DescribeImages call per page of tagged images (up to 1000 a page)."""
        found: dict[str, str] = {}
        with translate_errors(f"ecr {repository}", endpoint=self.endpoint):
            try:
                token: str | None = None
                while True:
                    more = {"nextToken": token} if token else {}
                    page = read_retrying(
                        partial(
                            self._ecr.describe_images,
                            repositoryName=repository,
                            filter={"tagStatus": "TAGGED"},
                            maxResults=page_size,
                            **more,  # type: ignore[arg-type]
                            **self._ids(),  # type: ignore[arg-type]
                        )
                    )
                    for detail in page.get("imageDetails", []):
                        for tag in detail.get("imageTags", []) or []:
                            found[tag] = str(detail["imageDigest"])
                    token = page.get("nextToken")
                    if not token:
                        return found
            except ClientError as exc:
                if error_code(exc) == "RepositoryNotFoundException":
                    return None
                raise

    def login(self) -> RegistryAuth:
        """Pull credentials from GetAuthorizationToken (valid 12 hours; ``expires_at`` from ``expiresAt``)."""
        with translate_errors("ecr authorization", endpoint=self.endpoint):
            kwargs: dict[str, Any] = {"registryIds": [self._registry_id]} if self._registry_id else {}
            data = self._ecr.get_authorization_token(**kwargs)["authorizationData"]
        if not data:
            raise PermanentError("ecr authorization", "GetAuthorizationToken returned no token", endpoint=self.endpoint)
        token = base64.b64decode(data[0]["authorizationToken"]).decode()
        username, _, password = token.partition(":")
        expires = data[0].get("expiresAt")
        return RegistryAuth(
            username=username,
            password=Sensitive(password),
            server=data[0]["proxyEndpoint"],
            expires_at=expires.timestamp() if isinstance(expires, datetime) else None,
        )


def _collect(details: Sequence[Any], wanted: set[str], found: dict[str, str]) -> None:
    for detail in details:
        for tag in detail.get("imageTags", []) or []:
            if tag in wanted:
                found[tag] = str(detail["imageDigest"])
