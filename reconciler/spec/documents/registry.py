"""Where images are pulled from: the registry section of an Environment or an Images entry. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.field_types import AccountId, EnvName, HostPort
from reconciler.spec.documents.messages import invalid

RegistryType = Literal["oci", "ecr"]


class RegistryCredentials(SpecModel):
    """Pull credentials of a registry, read from environment variables (never written in git)."""

    username_from_env: EnvName = Field(
        description="Environment variable holding the user name (e.g. DOCKERHUB_USERNAME; for GHCR, the GitHub user)."
    )
    password_from_env: EnvName = Field(
        description="Environment variable holding the password or access token (e.g. DOCKERHUB_TOKEN, a "
        "Docker Hub personal access token; for GHCR a personal access token with read:packages). Masked "
        "in every output."
    )


class RegistrySection(SpecModel):
    """Where images are pulled from and how the reconciler resolves tags to digests."""

    type: RegistryType = Field(
        default="oci",
        description="oci: a plain Docker/OCI registry (HTTP API v2: Docker Hub, GHCR, a registry of your "
        "own); ecr: Amazon ECR (digests via the ECR API; needs the Environment's aws).",
    )
    url: HostPort | None = Field(
        default=None,
        description="Registry host[:port], no scheme, as image references write it: docker.io for Docker "
        "Hub (its API host registry-1.docker.io is used for you), ghcr.io, registry.example.com:5000. "
        "Required for oci; for ecr derived from accountId and the Environment's aws.region when omitted.",
    )
    insecure: bool = Field(default=False, description="oci only: talk plain http instead of https.")
    account_id: AccountId | None = Field(
        None, description="ecr only: the 12-digit AWS account id (quoted) owning the repositories."
    )
    credentials: RegistryCredentials | None = Field(
        None,
        description="oci only: user name and password (or token) from environment variables, used both to "
        "resolve tags (the registry's token service, with Basic auth) and by the engine to pull. "
        "Default: anonymous.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySection:
        if self.type == "oci":
            if self.url is None:
                raise invalid("registry", "an oci registry needs url: host[:port] (docker.io for Docker Hub)")
            if self.account_id is not None:
                raise invalid("registry", "accountId is for ecr registries only")
        else:
            if self.url is None and self.account_id is None:
                raise invalid("registry", "an ecr registry needs accountId (or url)")
            if self.insecure:
                raise invalid("registry", "insecure is for oci registries only; ECR always uses https")
            if self.credentials is not None:
                raise invalid("registry", "credentials are for oci registries; ECR logs in with the AWS credentials")
        return self
