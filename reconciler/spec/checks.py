"""The checks across documents: one Environment, names unique per kind, parameters, Images entries. Pure.

What one document cannot check on its own, once :mod:`reconciler.spec.folder` has read them
all: exactly one Environment, document names unique per kind, parameter full names unique
across sets, valid for SSM and under the Environment's ``parameterPrefix``, Images entry names
unique and each with a registry. :class:`Declared` is what these checks (and the stack checks
of :mod:`reconciler.spec.stack_checks`) work on. Each check returns its issues.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

from reconciler.core.errors import SpecIssue
from reconciler.core.image_names import reference_host
from reconciler.core.model import path_is_under
from reconciler.spec.documents import (
    KINDS,
    ComposeStack,
    Environment,
    Images,
    ParameterSet,
    RegistrySection,
    ssm_name_problem,
)
from reconciler.spec.folder import FolderRead, ReadDocument
from reconciler.spec.source import SourceDoc

D = TypeVar("D")

#: kind -> name -> the first valid document of that name
ByName = Mapping[str, Mapping[str, ReadDocument]]


@dataclass(frozen=True)
class Declared:
    """The valid documents of the folder (the first of each name per kind), and what reading the
    folder knows of the rest: what the checks across documents work on."""

    env_dir: Path  # absolute
    environment: Environment | None
    parameter_sets: Mapping[str, ParameterSet]  # by name, sorted
    images: Mapping[str, Images]
    stacks: Mapping[str, ComposeStack]
    sources: Mapping[tuple[str, str], SourceDoc]  # (kind, name) -> document
    invalid: frozenset[tuple[str, str]] = frozenset()  # see FolderRead
    invalid_entries: frozenset[str] = frozenset()
    incomplete: bool = False
    # stack name -> how its compose file is read (stack_checks' ComposeKey), computed once per stack
    compose_keys: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def source(self, kind: str, name: str) -> SourceDoc:
        return self.sources[(kind, name)]


def first_by_name(documents: Iterable[ReadDocument]) -> dict[str, dict[str, ReadDocument]]:
    """Kind -> name -> the first valid document of that kind and name (in file order)."""
    by_kind: dict[str, dict[str, ReadDocument]] = {kind: {} for kind in KINDS}
    for doc in documents:
        by_kind[doc.kind].setdefault(doc.name, doc)
    return by_kind


def declared_documents(env_dir: Path, folder: FolderRead, by_kind: ByName, environment: Environment | None) -> Declared:
    """The documents the checks work on: the first of each name, each kind sorted by name."""
    return Declared(
        env_dir=env_dir,
        environment=environment,
        parameter_sets=_models(by_kind["ParameterSet"], ParameterSet),
        images=_models(by_kind["Images"], Images),
        stacks=_models(by_kind["ComposeStack"], ComposeStack),
        sources={(kind, name): d.source for kind, docs in by_kind.items() for name, d in docs.items()},
        invalid=folder.invalid,
        invalid_entries=folder.invalid_entries,
        incomplete=folder.incomplete,
    )


def _models(docs: Mapping[str, ReadDocument], cls: type[D]) -> dict[str, D]:
    return {name: cast(D, docs[name].model) for name in sorted(docs)}


def the_environment(documents: Sequence[ReadDocument]) -> Environment | None:
    """The folder's Environment: the first valid one."""
    return next((cast(Environment, d.model) for d in documents if d.kind == "Environment"), None)


def duplicate_name_issues(documents: Sequence[ReadDocument], by_kind: ByName) -> list[SpecIssue]:
    """A document whose kind and name an earlier document already has."""
    return [
        doc.source.issue(
            ("metadata", "name"),
            f"duplicate {doc.kind} name '{doc.name}' (first defined at {first.source.where(('metadata', 'name'))})",
        )
        for doc in documents
        if (first := by_kind[doc.kind][doc.name]) is not doc
    ]


def environment_count_issues(folder: FolderRead, by_kind: ByName, folder_display: str) -> list[SpecIssue]:
    """The folder has exactly one Environment (``folder_display`` names the folder)."""
    environments = [d for d in folder.documents if d.kind == "Environment"]
    if not environments:
        if folder.environment_seen or folder.incomplete:
            return []  # an invalid one is reported where it is, or it may be in the unparsable file
        problem = "no Environment document found; every environment folder needs exactly one"
        return [SpecIssue(folder_display, None, "", problem)]
    first, *others = environments
    return [
        extra.source.issue(
            ("kind",),
            f"a second Environment ('{extra.name}'); the folder already has "
            f"'{first.name}' at {first.source.where(('kind',))}",
        )
        for extra in others
        if by_kind["Environment"].get(extra.name) is extra
    ]


def parameter_path_issues(found: Declared) -> list[SpecIssue]:
    """Each ParameterSet lies under the Environment's parameterPrefix, which needs ``aws`` (SSM)."""
    env = found.environment
    if env is None:
        return []
    where = found.source("Environment", env.metadata.name).where(("spec",))
    prefix = env.spec.parameter_prefix
    if env.spec.aws is None or prefix is None:
        missing = "aws (region) and parameterPrefix" if env.spec.aws is None else "parameterPrefix"
        problem = (
            "a ParameterSet lives in SSM Parameter Store, and this environment has no AWS"
            if env.spec.aws is None
            else "a ParameterSet must lie under the environment's parameterPrefix, and it has none"
        )
        return [
            found.source("ParameterSet", set_name).issue(
                ("kind",),
                f"{problem}: add {missing} to the Environment's spec ({where}), or remove this ParameterSet "
                "and give plain values as host variables or compose defaults",
            )
            for set_name in found.parameter_sets
        ]
    return [
        found.source("ParameterSet", set_name).issue(
            ("spec", "path"), f"'{pset.spec.path}' is not under the environment's parameterPrefix '{prefix}'"
        )
        for set_name, pset in found.parameter_sets.items()
        if not path_is_under(pset.spec.path, prefix)
    ]


def environment_aws_issues(found: Declared) -> list[SpecIssue]:
    """An Environment without ``aws`` has nothing that needs AWS: an SSM prefix, an ecr registry, a
    dynamodb state store (ParameterSets and Images entries are checked where they are)."""
    env = found.environment
    if env is None or env.spec.aws is not None:
        return []
    src = found.source("Environment", env.metadata.name)
    spec = env.spec
    issues = []
    if spec.parameter_prefix is not None:
        message = "parameterPrefix is an SSM path: add aws (region) to use SSM, or leave parameterPrefix out"
        issues.append(src.issue(("spec", "parameterPrefix"), message))
    if spec.registry is not None and spec.registry.type == "ecr":
        message = "an ecr registry needs aws (region, and the AWS credentials): add aws, or use an oci registry"
        issues.append(src.issue(("spec", "registry", "type"), message))
    if spec.state_store is not None and spec.state_store.type == "dynamodb":
        message = "a dynamodb state store needs aws (region): add aws, or use type sqlite"
        issues.append(src.issue(("spec", "stateStore", "type"), message))
    for name, entry in (spec.hosts or {}).items():
        if entry.from_auto_scaling_group is not None:
            message = "a fleet's instances come from an Auto Scaling group: add aws (region), or name the hosts"
            issues.append(src.issue(("spec", "hosts", name, "fromAutoScalingGroup"), message))
    return issues


def parameter_name_issues(found: Declared) -> list[SpecIssue]:
    """Each parameter's full name (path/key) is valid for SSM and defined in one set only."""
    named = [
        (found.source("ParameterSet", set_name), ("spec", "parameters", key), f"{pset.spec.path}/{key}")
        for set_name, pset in found.parameter_sets.items()
        for key in pset.spec.parameters
    ]
    issues: list[SpecIssue] = []
    first_at: dict[str, str] = {}  # full name -> where
    for src, loc, full in named:
        problem = ssm_name_problem(full)
        if problem:
            issues.append(src.issue(loc, f"invalid SSM parameter name: {problem}"))
        elif full in first_at:
            issues.append(src.issue(loc, f"parameter {full} is already defined at {first_at[full]}"))
        else:
            first_at[full] = src.where(loc)
    return issues


def image_issues(found: Declared) -> list[SpecIssue]:
    """Images entry names are unique across documents; each entry has a registry."""
    env = found.environment
    needs_registry = env is not None and env.spec.registry is None  # no default registry
    no_aws = env is not None and env.spec.aws is None
    issues: list[SpecIssue] = []
    first_at: dict[str, str] = {}  # entry name -> where
    for doc_name, doc in found.images.items():
        src = found.source("Images", doc_name)
        for entry_name, entry in doc.spec.images.items():
            loc = ("spec", "images", entry_name)
            if entry_name in first_at:
                message = f"image entry '{entry_name}' is already defined at {first_at[entry_name]}"
                issues.append(src.issue(loc, message))
                continue
            first_at[entry_name] = src.where(loc)
            if entry.registry is not None and entry.registry.type == "ecr" and no_aws:
                message = (
                    "an ecr registry needs AWS: add aws (region) to the Environment's spec, or use an oci registry"
                )
                issues.append(src.issue((*loc, "registry", "type"), message))
            if entry.registry is None and entry.image is None and needs_registry:
                message = (
                    "no registry for this image: set registry on the entry or spec.registry in the Environment "
                    "(url: docker.io for Docker Hub), or write it as image: (e.g. image: nginx:1.27)"
                )
                issues.append(src.issue(loc, message))
    return issues


def registry_credential_issues(found: Declared) -> list[SpecIssue]:
    """One set of credentials per registry host (the engine keeps one login per host, as
    ``docker login`` does): a second, different one is refused where it is written."""
    blocks: list[tuple[str, RegistrySection, SourceDoc, tuple[str, ...]]] = []
    env = found.environment
    if env is not None and env.spec.registry is not None and env.spec.registry.url is not None:
        src = found.source("Environment", env.metadata.name)
        blocks.append((env.spec.registry.url, env.spec.registry, src, ("spec", "registry")))
    for doc_name, doc in found.images.items():
        for entry_name, entry in doc.spec.images.items():
            ref = entry.reference()
            if entry.registry is None:
                continue
            host = entry.registry.url or (ref.host if ref is not None else None)
            if host is not None:
                at = ("spec", "images", entry_name, "registry")
                blocks.append((host, entry.registry, found.source("Images", doc_name), at))
    first: dict[str, tuple[tuple[str, str], str]] = {}  # host -> (variables, where)
    issues: list[SpecIssue] = []
    for host, block, src, loc in blocks:
        if block.credentials is None:
            continue
        key = reference_host(host)
        names = (block.credentials.username_from_env, block.credentials.password_from_env)
        seen = first.setdefault(key, (names, src.where((*loc, "credentials"))))
        if seen[0] != names:
            message = (
                f"registry {key} already has other credentials at {seen[1]}: give one set per registry host "
                "(the engine keeps one login per host, as docker login does)"
            )
            issues.append(src.issue((*loc, "credentials"), message))
    return issues


def known_names(names: Iterable[str]) -> str:
    """`` (known: a, b)`` for a message about a name that is not among ``names``."""
    listed = sorted(set(names))
    return f" (known: {', '.join(listed)})" if listed else " (none defined)"
