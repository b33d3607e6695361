"""What every spec document shares: the strict model base, the metadata and the envelope. Pure.

A document is Kubernetes-style, ``{apiVersion, kind, metadata, spec}``; each kind narrows
``kind`` to its name and ``spec`` to its section model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from reconciler.spec.documents.field_types import ResourceName

API_VERSION = "reconciler.dev/v1alpha1"


class SpecModel(BaseModel):
    """Base of every spec model: camelCase keys, unknown keys rejected, strict types, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


class Metadata(SpecModel):
    name: ResourceName = Field(
        description="Name of the document, unique per kind in the environment: lowercase letters, "
        "digits and '-', at most 63 characters."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form string labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Free-form string annotations.")


class Document(SpecModel):
    api_version: Literal["reconciler.dev/v1alpha1"] = Field(description="Always reconciler.dev/v1alpha1.")
    kind: str
    metadata: Metadata = Field(description="Name (unique per kind), labels and annotations.")
