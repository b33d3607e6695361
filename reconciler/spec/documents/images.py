"""The Images kind: named container images, each a repository plus a tag or a pinned digest. Pure.

An entry names its image either as people write it for ``docker pull`` (``image:
nginx:1.27``, ``image: ghcr.io/org/app``, read with Docker's rules by
:mod:`reconciler.core.image_names`) or in parts (``repository`` in the entry's or the
Environment's ``registry``); a tag or digest comes from the reference or the fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from reconciler.core.image_names import ImageName, parse_image, reference_host
from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import Digest, EntryName, ImageReference, Repository, Tag
from reconciler.spec.documents.image_policy import ImagePolicySection
from reconciler.spec.documents.messages import invalid
from reconciler.spec.documents.registry import RegistrySection


class ImageEntry(SpecModel):
    image: ImageReference | None = Field(
        None,
        description="The image as docker pull reads it: [host[:port]/]path[:tag][@digest], e.g. nginx:1.27, "
        "bitnami/redis, ghcr.io/org/app:2.0, registry.example.com:5000/app. Without a host it is on Docker "
        "Hub (docker.io), where a one-part name is an official image (nginx is library/nginx). Instead of "
        "repository; the tag (or digest) may be here or in tag (digest), not both.",
    )
    repository: Repository | None = Field(
        None,
        description="Repository path inside the registry, e.g. popcon/backend (on Docker Hub, nginx is "
        "library/nginx). Exactly one of image or repository.",
    )
    tag: Tag | None = Field(
        None,
        description="Tag to run; resolved to its digest at plan time. Exactly one of tag or digest (both with "
        "policy.pinDigest: the digest runs, the tag says which it was).",
    )
    digest: Digest | None = Field(
        None, description="Pinned digest sha256:<64 hex>. Exactly one of tag or digest (both with policy.pinDigest)."
    )
    registry: RegistrySection | None = Field(
        None,
        description="Registry of this image; default: the Environment's registry. With image, its url must "
        "be the image's host (it then gives insecure and credentials).",
    )
    policy: ImagePolicySection | None = Field(
        None,
        description="How `reconciler image-update` picks this entry's tag from the registry (semver range, "
        "numerical or alphabetical order); without it, image-update leaves the entry alone.",
    )
    description: str | None = Field(default=None, description="Free text for humans.")

    def reference(self) -> ImageName | None:
        """The parsed ``image`` (None for an entry in parts)."""
        return parse_image(self.image) if self.image is not None else None

    def pinned_tag(self) -> str | None:
        ref = self.reference()
        return self.tag if ref is None or ref.tag is None else ref.tag

    def pinned_digest(self) -> str | None:
        ref = self.reference()
        return self.digest if ref is None or ref.digest is None else ref.digest

    @model_validator(mode="after")
    def _tag_xor_digest(self) -> ImageEntry:
        ref = self.reference()
        if ref is None and self.repository is None:
            raise invalid("image", "an image needs image: (e.g. nginx:1.27) or repository:")
        if ref is not None:
            if self.repository is not None:
                raise invalid("image", "give either image or repository, not both")
            if (ref.tag is not None and self.tag is not None) or (ref.digest is not None and self.digest is not None):
                raise invalid("image", "the tag (or digest) is given twice: in image and in tag (digest)")
            if self.registry is not None and self.registry.url is not None and not _same_host(self.registry, ref):
                raise invalid("image", f"registry.url '{self.registry.url}' is not the image's registry '{ref.host}'")
        tag, digest = self.pinned_tag(), self.pinned_digest()
        if tag is not None and digest is not None and not (self.policy is not None and self.policy.pin_digest):
            raise invalid("image", "give either tag or digest, not both")
        if tag is None and digest is None:
            raise invalid("image", "an image needs a tag or a digest")
        return self


def _same_host(registry: RegistrySection, ref: ImageName) -> bool:
    return registry.url is not None and reference_host(registry.url) == ref.host


class ImagesSection(SpecModel):
    images: dict[EntryName, ImageEntry] = Field(
        description="Entry name -> image. ComposeStack services refer to entries by name; names are "
        "unique across all Images documents."
    )


class Images(Document):
    """Named container images: repository plus tag (resolved to a digest) or a pinned digest."""

    kind: Literal["Images"] = Field(description="Images")
    spec: ImagesSection = Field(description="The named images.")
