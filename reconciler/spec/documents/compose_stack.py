"""The ComposeStack kind: a compose file plus the images and parameters that feed it. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import (
    ComposeFilePath,
    ProjectDirectory,
    ProjectName,
    Reference,
    ResourceName,
)


class StackService(SpecModel):
    image: Reference | None = Field(
        default=None,
        description="Name of an Images entry; the container runs it pinned by digest. Default: the "
        "compose file's own image string, unchanged.",
    )
    environment_from: list[Reference] = Field(
        default_factory=list,
        description="ParameterSets whose keys are injected as the container's environment variables.",
    )


class ComposeStackSection(SpecModel):
    compose_file: ComposeFilePath = Field(
        description="The stack's standard compose file, relative to the environment folder. It is "
        "never read as a spec document. The files it includes (include:) and extends (extends: {file: "
        "...}) are part of the stack, read as Compose reads them."
    )
    project_directory: ProjectDirectory | None = Field(
        None,
        description="Compose's --project-directory, relative to the environment folder: the folder the "
        "compose file's relative paths (bind-mount sources, env_file, build contexts, extends and "
        "include files) resolve against. Default: the compose file's own folder, as Compose does (for composeFile: "
        "app/compose.yaml, ./data means app/data). '.' is the environment folder.",
    )
    project: ProjectName | None = Field(
        None, description="Compose project name. Default: <environment name>-<stack name>."
    )
    parameter_sets: list[Reference] = Field(
        default_factory=list,
        description="ParameterSets whose keys are the stack's interpolation variables, for ${VAR} in the "
        "compose file (handed to Compose in its process environment, never written to a file).",
    )
    prune: bool = Field(
        True, description="Remove this environment's containers of services no longer in the compose file."
    )
    hosts: list[ResourceName] = Field(
        default_factory=list,
        description="The Environment's hosts this stack runs on, in rollout order (a host finishes before "
        "the next starts). Default: the environment's only host; required when it has several.",
    )
    services: dict[str, StackService] = Field(
        default_factory=dict,
        description="Per compose service settings; every key must be a service of the compose file. "
        "Services not listed run as the compose file says.",
    )


class ComposeStack(Document):
    """A Docker Compose project: a compose file plus its images and parameters."""

    kind: Literal["ComposeStack"] = Field(description="ComposeStack")
    spec: ComposeStackSection = Field(description="The compose file and how parameters and images feed it.")
