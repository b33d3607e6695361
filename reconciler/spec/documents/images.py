"""The Images kind: named container images, each a repository plus a tag or a pinned digest. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import Digest, EntryName, Repository, Tag
from reconciler.spec.documents.messages import invalid
from reconciler.spec.documents.registry import RegistrySection


class ImageEntry(SpecModel):
    repository: Repository = Field(description="Repository path inside the registry, e.g. popcon/backend.")
    tag: Tag | None = Field(
        None, description="Tag to run; resolved to its digest at plan time. Exactly one of tag or digest."
    )
    digest: Digest | None = Field(
        None, description="Pinned digest sha256:<64 hex>. Exactly one of tag or digest."
    )
    registry: RegistrySection | None = Field(
        None, description="Registry of this image; default: the Environment's registry."
    )
    description: str | None = Field(default=None, description="Free text for humans.")

    @model_validator(mode="after")
    def _tag_xor_digest(self) -> ImageEntry:
        if self.tag is not None and self.digest is not None:
            raise invalid("image", "give either tag or digest, not both")
        if self.tag is None and self.digest is None:
            raise invalid("image", "an image needs a tag or a digest")
        return self


class ImagesSection(SpecModel):
    images: dict[EntryName, ImageEntry] = Field(
        description="Entry name -> image. ComposeStack services refer to entries by name; names are "
        "unique across all Images documents."
    )


class Images(Document):
    """Named container images: repository plus tag (resolved to a digest) or a pinned digest."""

    kind: Literal["Images"] = Field(description="Images")
    spec: ImagesSection = Field(description="The named images.")
