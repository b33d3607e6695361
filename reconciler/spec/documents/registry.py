"""Where images are pulled from: the registry section of an Environment or an Images entry. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.spec.documents.base import SpecModel
from reconciler.spec.documents.field_types import AccountId, HostPort
from reconciler.spec.documents.messages import invalid

RegistryType = Literal["oci", "ecr"]


class RegistrySection(SpecModel):
    """Where images are pulled from and how the reconciler resolves tags to digests."""

    type: RegistryType = Field(
        default="oci",
        description="oci: a plain Docker/OCI registry (HTTP API v2); "
        "ecr: Amazon ECR (digests via the ECR API).",
    )
    url: HostPort | None = Field(
        default=None,
        description="Registry host[:port], no scheme. Required for oci; for ecr derived from accountId "
        "and the Environment's aws.region when omitted.",
    )
    insecure: bool = Field(default=False, description="oci only: talk plain http instead of https.")
    account_id: AccountId | None = Field(
        None, description="ecr only: the 12-digit AWS account id (quoted) owning the repositories."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySection:
        if self.type == "oci":
            if self.url is None:
                raise invalid("registry", "an oci registry needs url: host[:port]")
            if self.account_id is not None:
                raise invalid("registry", "accountId is for ecr registries only")
        else:
            if self.url is None and self.account_id is None:
                raise invalid("registry", "an ecr registry needs accountId (or url)")
            if self.insecure:
                raise invalid("registry", "insecure is for oci registries only; ECR always uses https")
        return self
