"""Load and validate an environment folder (environments/<env>/*.yaml). Pure apart from reading files.

:func:`load_environment` reads every ``*.yaml``/``*.yml`` file directly in the
folder (:mod:`reconciler.spec.folder` says which files hold spec documents), validates
the whole set and returns a :class:`LoadedEnvironment`, or raises one
:class:`~reconciler.core.errors.SpecError` listing every problem found, each with file,
line, field and message, sorted by file and line.

Checks that span documents (:mod:`reconciler.spec.checks`,
:mod:`reconciler.spec.stack_checks`): exactly one Environment, names unique per kind,
parameter full names unique across sets and valid for SSM and under the Environment's
``parameterPrefix``, Images entry names unique, every reference resolves (parameterSets,
environmentFrom, services.*.image, services keys in the compose file), keys of sets a stack
uses are valid environment variable names and come from one set only, compose project names
are unique, the compose files are valid; every compose service names its image
(:mod:`reconciler.spec.service_image_checks`) and every variable a compose file needs is set
where its stack runs (:mod:`reconciler.spec.variable_checks`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.checks import (
    declared_documents,
    duplicate_name_issues,
    environment_aws_issues,
    environment_count_issues,
    first_by_name,
    image_issues,
    parameter_name_issues,
    parameter_path_issues,
    registry_credential_issues,
    the_environment,
)
from reconciler.spec.compose_model import ComposeModel
from reconciler.spec.documents import ComposeStack, Environment, ImageEntry, Images, ParameterSet
from reconciler.spec.fleet_checks import rollout_issues
from reconciler.spec.folder import LEADS_NOWHERE, read_folder
from reconciler.spec.refresh_checks import instance_refresh_issues
from reconciler.spec.service_image_checks import build_only_service_issues
from reconciler.spec.source import SourceDoc, display_path, format_loc, real_path
from reconciler.spec.stack_checks import read_compose_files, stack_compose_models, stack_issues
from reconciler.spec.variable_checks import unset_variable_issues


@dataclass(frozen=True)
class LoadedEnvironment:
    """A validated environment folder: its documents and where each was written."""

    env_dir: Path  # absolute
    environment: Environment
    parameter_sets: Mapping[str, ParameterSet] = field(default_factory=dict)  # by name, sorted
    images: Mapping[str, Images] = field(default_factory=dict)
    stacks: Mapping[str, ComposeStack] = field(default_factory=dict)
    sources: Mapping[tuple[str, str], SourceDoc] = field(default_factory=dict)  # (kind, name) -> document
    compose: Mapping[str, ComposeModel] = field(default_factory=dict)  # stack name -> its compose file

    @property
    def name(self) -> str:
        return self.environment.metadata.name

    @property
    def owner(self) -> str:
        return self.environment.spec.ownership or f"reconciler-{self.name}"

    def source(self, kind: str, name: str) -> SourceDoc:
        return self.sources[(kind, name)]

    def where(self, kind: str, name: str, loc: Sequence[Hashable] = ()) -> str:
        """``file:line`` of a field of a document, for messages."""
        return self.sources[(kind, name)].where(loc)

    def image_entries(self) -> dict[str, tuple[str, ImageEntry]]:
        """Images entry name -> (Images document name, entry), sorted by entry name."""
        out: dict[str, tuple[str, ImageEntry]] = {}
        for doc_name, doc in self.images.items():
            for entry_name, entry in doc.spec.images.items():
                out.setdefault(entry_name, (doc_name, entry))
        return dict(sorted(out.items()))


def load_environment(env_dir: Path, *, cwd: Path | None = None) -> LoadedEnvironment:
    """Read and validate every spec document of ``env_dir``. Raises SpecError listing all problems.

    ``cwd`` is the directory messages name files relative to (default: the working directory)."""
    root = real_path(env_dir)
    if not root.is_dir():
        problem = LEADS_NOWHERE if env_dir.is_symlink() and not env_dir.exists() else "not a directory"
        raise SpecError([SpecIssue(display_path(env_dir, cwd), None, "", problem)])
    folder = read_folder(root, cwd)
    by_kind = first_by_name(folder.documents)
    environment = the_environment(folder.documents)
    found = declared_documents(root, folder, by_kind, environment)
    composed = read_compose_files(found, folder.parsed, cwd)
    issues = [
        *folder.issues,
        *duplicate_name_issues(folder.documents, by_kind),
        *environment_count_issues(folder, by_kind, display_path(env_dir, cwd)),
        *environment_aws_issues(found),
        *parameter_path_issues(found),
        *parameter_name_issues(found),
        *image_issues(found),
        *registry_credential_issues(found),
        *stack_issues(found, composed),
        *build_only_service_issues(found, composed),
        *unset_variable_issues(found, composed),
        *rollout_issues(found, stack_compose_models(found, composed)),
        *instance_refresh_issues(found),
    ]
    if issues or environment is None:
        raise SpecError(_sorted(issues))
    return LoadedEnvironment(
        env_dir=root,
        environment=environment,
        parameter_sets=found.parameter_sets,
        images=found.images,
        stacks=found.stacks,
        sources=found.sources,
        compose=stack_compose_models(found, composed),
    )


def _sorted(issues: list[SpecIssue]) -> list[SpecIssue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.file, i.line or 0))


__all__ = ["LoadedEnvironment", "format_loc", "load_environment"]
