"""Check each ComposeStack against the other documents and its compose file. Pure apart from reading files.

Once the documents are read (:class:`~reconciler.spec.checks.Declared`), each check here
returns its issues, all stacks in name order: compose project names are unique, the hosts a
stack names are the Environment's, its compose file exists and is valid and has the services
the stack configures, its ``projectDirectory`` is a folder (:mod:`.stack_paths`),
``services.*.image`` names an Images entry, the ParameterSets it uses exist and a variable
comes from one of them only, their keys are environment variable names, and a host's
variables do not clash with them. :func:`stack_issues` runs them all, in the
order their messages are listed. Compose files are read once each by :func:`read_compose_files`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.checks import Declared, known_names
from reconciler.spec.compose_file import load_compose, parse_compose
from reconciler.spec.compose_model import ComposeModel
from reconciler.spec.compose_values import path_values, set_references, stack_variables, usable_sets, variable_keys
from reconciler.spec.documents import ENV_NAME_RE, ComposeStack, environment_hosts
from reconciler.spec.folder import Parsed
from reconciler.spec.interpolation import Values
from reconciler.spec.job_checks import job_issues
from reconciler.spec.source import Loc, SourceDoc, display_path, real_path
from reconciler.spec.stack_paths import project_directory, project_directory_issues

#: A stack's compose file as read: its model, why it is invalid, or None when there is no such file.
ComposeRead = ComposeModel | SpecError | None
#: A compose file as a stack reads it: the file (resolved), the stack's project directory, and a
#: fingerprint of the values its paths may name (:func:`~reconciler.spec.compose_values.path_values`).
ComposeKey = tuple[Path, Path, str]


def stack_issues(found: Declared, composed: Mapping[ComposeKey, ComposeRead]) -> list[SpecIssue]:
    """Every check of the stacks, in the order their messages are listed."""
    return [
        *project_name_issues(found),
        *host_list_issues(found),
        *compose_file_issues(found, composed),
        *project_directory_issues(found),
        *image_reference_issues(found),
        *parameter_set_reference_issues(found),
        *variable_name_issues(found),
        *host_variable_issues(found),
        *job_issues(found, stack_compose_models(found, composed)),
    ]


# ---- compose files ----------------------------------------------------------------------


def read_compose_files(
    found: Declared, parsed: Mapping[Path, Parsed], cwd: Path | None
) -> dict[ComposeKey, ComposeRead]:
    """Each stack's compose file (with the files it includes and extends) by resolved path, project
    directory and path values, read once; one the folder's reading parsed is not read again."""
    reads: dict[ComposeKey, ComposeRead] = {}
    for stack in found.stacks.values():
        key, values = _key_and_values(found, stack)
        if key not in reads:
            reads[key] = _read_compose(key, values, parsed.get(key[0]), display_path(key[0], cwd))
    return reads


def stack_compose_models(found: Declared, composed: Mapping[ComposeKey, ComposeRead]) -> dict[str, ComposeModel]:
    """Stack name -> its compose file, for the stacks whose compose file is valid."""
    models = {name: composed[_compose_key(found, stack)] for name, stack in found.stacks.items()}
    return {name: model for name, model in models.items() if isinstance(model, ComposeModel)}


def _compose_key(found: Declared, stack: ComposeStack) -> ComposeKey:
    return _key_and_values(found, stack)[0]


def _key_and_values(found: Declared, stack: ComposeStack) -> tuple[ComposeKey, Values]:
    """How the stack reads its compose file, and the values its paths may name (once per stack:
    ``found.stacks`` never changes)."""
    known = found.compose_keys.get(stack.metadata.name)
    if known is not None:
        return cast(tuple[ComposeKey, Values], known)
    values = path_values(found, stack)
    fingerprint = hashlib.sha256(json.dumps(sorted(values.items())).encode()).hexdigest()
    path = real_path(found.env_dir / stack.spec.compose_file)
    found.compose_keys[stack.metadata.name] = (path, project_directory(found.env_dir, stack.spec), fingerprint), values
    return cast(tuple[ComposeKey, Values], found.compose_keys[stack.metadata.name])


def _read_compose(key: ComposeKey, values: Values, parsed: Parsed | None, display: str) -> ComposeRead:
    path, project_dir, _ = key
    if not path.is_file():
        return None
    if isinstance(parsed, SpecError):
        return parsed
    try:
        if parsed is None:
            return load_compose(path, display, project_dir, values)
        docs = tuple(replace(doc, path=path) for doc in parsed)
        return parse_compose(docs, path, display, project_dir, values)
    except SpecError as error:
        return error


def compose_file_issues(found: Declared, composed: Mapping[ComposeKey, ComposeRead]) -> list[SpecIssue]:
    """Each stack's compose file exists and is valid (said once per file, at the first stack naming
    it), and has every service the stack configures."""
    keys = {name: _compose_key(found, stack) for name, stack in found.stacks.items()}
    first_user = {key: name for name, key in reversed(keys.items())}
    issues: list[SpecIssue] = []
    for name, stack in found.stacks.items():
        src = found.source("ComposeStack", name)
        compose = composed[keys[name]]
        if first_user[keys[name]] == name:
            issues += _compose_read_issues(src, stack, keys[name][0], compose)
        if isinstance(compose, ComposeModel):
            issues += _unknown_service_issues(src, stack, compose)
    return issues


def _compose_read_issues(src: SourceDoc, stack: ComposeStack, path: Path, compose: ComposeRead) -> list[SpecIssue]:
    if compose is None:
        return [src.issue(("spec", "composeFile"), f"compose file '{stack.spec.compose_file}' not found ({path})")]
    if isinstance(compose, SpecError):
        return list(compose.issues)
    return []


def _unknown_service_issues(src: SourceDoc, stack: ComposeStack, compose: ComposeModel) -> list[SpecIssue]:
    return [
        src.issue(
            ("spec", "services", service),
            f"no service '{service}' in {compose.display} (services: {', '.join(compose.services)})",
        )
        for service in stack.spec.services
        if service not in compose.services
    ]


# ---- projects, hosts, images ------------------------------------------------------------------


def project_name_issues(found: Declared) -> list[SpecIssue]:
    """Compose project names are unique (a stack's default: <environment name>-<stack name>)."""
    env = found.environment
    issues: list[SpecIssue] = []
    projects: dict[str, str] = {}  # project -> the stack that has it, and where
    for stack_name, stack in found.stacks.items():
        src = found.source("ComposeStack", stack_name)
        project = stack.spec.project or (f"{env.metadata.name}-{stack_name}" if env is not None else None)
        if project is None:
            continue
        if project in projects:
            message = f"compose project '{project}' is already used by stack {projects[project]}"
            issues.append(src.issue(("spec", "project"), message))
        else:
            declared = ("spec", "project") if stack.spec.project else ("metadata", "name")
            projects[project] = f"'{stack_name}' ({src.where(declared)})"
    return issues


def host_list_issues(found: Declared) -> list[SpecIssue]:
    """The hosts a stack names are the Environment's, each once; it names them when there are several."""
    if found.environment is None:
        return []
    known = environment_hosts(found.environment)
    return [
        issue
        for name, stack in found.stacks.items()
        for issue in _host_list_issues(found.source("ComposeStack", name), stack.spec.hosts, known)
    ]


def _host_list_issues(src: SourceDoc, hosts: Sequence[str], known: Sequence[str]) -> list[SpecIssue]:
    if not hosts and len(known) > 1:
        return [
            src.issue(
                ("spec", "hosts"),
                f"the environment has {len(known)} hosts ({', '.join(known)}); "
                "say which this stack runs on, e.g. hosts: [" + ", ".join(known) + "]",
            )
        ]
    problems = [(i, _host_problem(name, hosts[:i], known)) for i, name in enumerate(hosts)]
    return [src.issue(("spec", "hosts", i), problem) for i, problem in problems if problem]


def _host_problem(name: str, earlier: Sequence[str], known: Sequence[str]) -> str | None:
    if name in earlier:
        return f"host '{name}' is listed twice"
    if name not in known:
        return f"no host named '{name}' in the Environment{known_names(known)}"
    return None


def image_reference_issues(found: Declared) -> list[SpecIssue]:
    """``services.*.image`` names an Images entry (one of an invalid document counts; when a file
    could not be parsed nothing is said: the entry may be there)."""
    if found.incomplete:
        return []
    entries = {name for doc in found.images.values() for name in doc.spec.images}
    return [
        found.source("ComposeStack", stack_name).issue(
            ("spec", "services", service_name, "image"),
            f"no Images entry named '{settings.image}'{known_names(entries)}",
        )
        for stack_name, stack in found.stacks.items()
        for service_name, settings in stack.spec.services.items()
        if settings.image is not None and settings.image not in entries | found.invalid_entries
    ]


# ---- parameter sets and variables -------------------------------------------------------------


def parameter_set_reference_issues(found: Declared) -> list[SpecIssue]:
    """The ParameterSets a stack uses exist, and a variable comes from one of them only."""
    return [
        issue
        for stack_name, stack in found.stacks.items()
        for issue in _set_reference_issues(found, stack_name, stack)
    ]


def _set_reference_issues(found: Declared, stack_name: str, stack: ComposeStack) -> list[SpecIssue]:
    src = found.source("ComposeStack", stack_name)
    variables = stack_variables(found, stack)
    issues: list[SpecIssue] = []
    for loc, set_name in set_references(stack.spec):
        if ("ParameterSet", set_name) in found.invalid:
            continue  # reported where it is defined
        pset = found.parameter_sets.get(set_name)
        if pset is None:
            if not found.incomplete:  # else it may be in the file that could not be parsed
                known = known_names(found.parameter_sets)
                issues.append(src.issue(loc, f"no ParameterSet named '{set_name}'{known}"))
            continue
        issues += [
            _variable_clash(found, src, loc, key, variables[key], set_name)
            for key in variable_keys(pset)
            if variables[key] != set_name
        ]
    return issues


def _variable_clash(found: Declared, src: SourceDoc, loc: Loc, key: str, first: str, then: str) -> SpecIssue:
    key_loc = ("spec", "parameters", key)
    first_at = found.source("ParameterSet", first).where(key_loc)
    then_at = found.source("ParameterSet", then).where(key_loc)
    return src.issue(
        loc,
        f"environment variable {key} comes from both ParameterSet '{first}' ({first_at}) and '{then}' "
        f"({then_at}); a name may come from one set only within a stack",
    )


def variable_name_issues(found: Declared) -> list[SpecIssue]:
    """The keys of a set some stack uses are environment variable names (said once per key, at
    the set, naming the first stack that uses it)."""
    first_user: dict[tuple[str, str], str] = {}  # (set, key) -> stack
    for stack_name, stack in found.stacks.items():
        for set_name in usable_sets(found, stack):
            for key in found.parameter_sets[set_name].spec.parameters:
                if not ENV_NAME_RE.fullmatch(key):
                    first_user.setdefault((set_name, key), stack_name)
    return [
        found.source("ParameterSet", set_name).issue(
            ("spec", "parameters", key),
            f"'{key}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*), "
            f"and stack '{stack_name}' uses this set",
        )
        for (set_name, key), stack_name in first_user.items()
    ]


def host_variable_issues(found: Declared) -> list[SpecIssue]:
    """A variable of a host a stack runs on does not also come from one of the stack's sets."""
    env = found.environment
    if env is None:
        return []
    issues: list[SpecIssue] = []
    for stack_name, stack in found.stacks.items():
        src = found.source("ComposeStack", stack_name)
        variables = stack_variables(found, stack)
        for host_name in stack.spec.hosts:
            entry = (env.spec.hosts or {}).get(host_name)
            issues += [
                src.issue(
                    ("spec", "hosts"),
                    f"variable {variable} comes from both host {host_name}'s variables and "
                    f"ParameterSet '{variables[variable]}'; a name may come from one place only",
                )
                for variable in (entry.variables if entry is not None else ())
                if variable in variables
            ]
    return issues
