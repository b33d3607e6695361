"""The ComposeStack kind: a compose file plus the images and parameters that feed it. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from reconciler.core.fleet import parse_duration
from reconciler.spec.documents.base import Document, SpecModel
from reconciler.spec.documents.field_types import (
    ComposeFilePath,
    ProjectDirectory,
    ProjectName,
    Reference,
    ResourceName,
)
from reconciler.spec.documents.messages import invalid
from reconciler.spec.documents.rollout import Duration


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


class StackJob(SpecModel):
    service: Reference = Field(
        description="The compose service whose image, configuration, environment and networks the job runs "
        "with (docker compose run --rm --no-deps)."
    )
    command: list[str] = Field(
        description='The command run in place of the service\'s own, as a list: ["./migrate.sh"]. It must be '
        "safe to repeat: a run cut short runs again on the next apply."
    )
    before: list[Reference] = Field(
        description="The stack's services the job runs before: it runs once, on one host, before any of them "
        "is created or recreated anywhere, and only then; not again while their configuration stays the same."
    )
    timeout: Duration = Field(
        "10m",
        description="How long the job may run, e.g. 10m: past it the job is killed, its container removed, "
        "and the stack stops before its services change.",
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise invalid("command", 'is empty: name the program to run and its arguments, e.g. ["./migrate.sh"]')
        return value

    @field_validator("before")
    @classmethod
    def _before(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid("before", "is empty: name the services the job must run before, e.g. [backend]")
        if len(set(value)) != len(value):
            raise invalid("before", "names a service twice")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str) -> str:
        if not parse_duration(value):
            raise invalid("timeout", f"'{value}' is no time at all: give the job time to run, e.g. 10m")
        return value


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
    jobs: dict[ResourceName, StackJob] = Field(
        default_factory=dict,
        description="One-off jobs (database migrations) by name: each runs with docker compose run on the "
        "stack's first host to change, before the services it precedes are created or recreated, once per "
        "configuration of those services (recorded in the state store). A job that fails or times out stops "
        "the stack before its services change.",
    )


class ComposeStack(Document):
    """A Docker Compose project: a compose file plus its images and parameters."""

    kind: Literal["ComposeStack"] = Field(description="ComposeStack")
    spec: ComposeStackSection = Field(description="The compose file and how parameters and images feed it.")
