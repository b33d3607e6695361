"""Load and validate an environment folder (environments/<env>/*.yaml). Pure apart from reading files.

:func:`load_environment` reads every ``*.yaml``/``*.yml`` file directly in the
folder (subfolders are not read), validates the whole set and returns a
:class:`LoadedEnvironment`, or raises one :class:`~reconciler.core.errors.SpecError`
listing every problem found, each with file, line, field and message.

Which files are spec documents: every YAML file of the folder, except

* a file some ComposeStack names as its ``composeFile``: it is read (and
  checked) as a compose file, never as spec documents;
* a file none of whose documents has ``apiVersion`` or ``kind`` at the top
  level while its first document has a top-level ``services``, ``networks``,
  ``volumes``, ``configs``, ``secrets``, ``include`` or ``name`` key: an
  unreferenced compose file (e.g. ``docker-compose.override.yml``), ignored.

Any other document missing ``apiVersion`` or ``kind`` is an error. Empty
documents (a bare ``---``) are skipped. Checks that span documents: exactly
one Environment, names unique per kind, parameter full names unique across
sets and valid for SSM and under the Environment's ``parameterPrefix``,
Images entry names unique, every reference resolves (parameterSets,
environmentFrom, services.*.image, services keys in the compose file),
keys of sets a stack uses are valid environment variable names and come from
one set only, compose project names are unique, the compose files are valid.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.core.model import DEFAULT_HOST, path_is_under
from reconciler.spec.compose_file import ComposeModel, load_compose, parse_compose
from reconciler.spec.documents import (
    API_VERSION,
    ENV_NAME_RE,
    KINDS,
    ComposeStack,
    Document,
    Environment,
    ImageEntry,
    Images,
    ParameterSet,
    describe_value,
    ssm_name_problem,
)
from reconciler.spec.source import SourceDoc, display_path, format_loc, read_yaml

_COMPOSE_KEYS = frozenset({"services", "networks", "volumes", "configs", "secrets", "include", "name"})

D = TypeVar("D", bound=Document)


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


# ---- pydantic errors -> issues ----------------------------------------------------


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(args) == 1:
                tp = args[0]
            elif models:
                tp = models[0]
            else:
                return tp
        else:
            return tp


def _fields_at(root: type[BaseModel], loc: Sequence[Hashable]) -> list[str]:
    """The field names (aliases) the model at ``loc`` accepts; [] when ``loc`` is not a model."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            match = [f for n, f in tp.model_fields.items() if (f.alias or n) == part or n == part]
            if not match:
                return []
            tp = match[0].annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _quote_hint(value: object) -> str:
    return "; quote it" if isinstance(value, int | float | bool) and value is not None else ""


def _message(root: type[BaseModel], loc: tuple[Hashable, ...], error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(root, loc[:-1])
        name = str(loc[-1])
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        if not close:
            lowered = {a.lower(): a for a in allowed}
            close = [lowered[name.lower()]] if name.lower() in lowered else []
        text = "unknown field"
        if close:
            text += f"; did you mean '{close[0]}'?"
        if allowed:
            text += f" (allowed: {', '.join(allowed)})"
        return text
    if kind == "string_type":
        return f"expected a string, got {describe_value(value)}{_quote_hint(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {describe_value(value)}"
    if kind in ("int_type", "float_type"):
        return f"expected a number, got {describe_value(value)}"
    if kind == "list_type":
        return f"expected a list, got {describe_value(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {describe_value(value)}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be {expected}; got {value!r}"
    return str(error["msg"])


def _validation_issues(doc: SourceDoc, model: type[BaseModel], error: ValidationError) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    seen: set[tuple[tuple[Hashable, ...], str]] = set()
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if p != "[key]")
        message = _message(model, loc, err)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        issues.append(doc.issue(loc, message))
    return issues


# ---- loading ------------------------------------------------------------------------


@dataclass
class _Doc:
    kind: str
    name: str
    model: Document
    source: SourceDoc


@dataclass
class _State:
    env_dir: Path
    cwd: Path | None
    issues: list[SpecIssue] = field(default_factory=list)
    docs: list[_Doc] = field(default_factory=list)
    environment_seen: bool = False  # some document says kind: Environment (valid or not)
    # names of documents (and Images entries) that exist but are invalid: references to them
    # are not reported again as dangling
    invalid_names: dict[str, set[str]] = field(default_factory=dict)
    invalid_entries: set[str] = field(default_factory=set)
    incomplete: bool = False  # a file could not be parsed: references into it cannot be checked
    # every YAML file of the folder as parsed (by resolved path), or why it could not be: a stack's
    # compose file in the folder is not read twice
    parsed: dict[Path, tuple[SourceDoc, ...] | SpecError] = field(default_factory=dict)

    def add(self, issue: SpecIssue) -> None:
        self.issues.append(issue)

    def display(self, path: Path) -> str:
        return display_path(path, self.cwd)


def _compose_refs(env_dir: Path, parsed: Mapping[Path, tuple[SourceDoc, ...]]) -> set[Path]:
    refs: set[Path] = set()
    for docs in parsed.values():
        for doc in docs:
            data = doc.data
            if isinstance(data, dict) and data.get("kind") == "ComposeStack":
                spec = data.get("spec")
                if isinstance(spec, dict) and isinstance(spec.get("composeFile"), str):
                    refs.add((env_dir / spec["composeFile"]).resolve())
    return refs


def _is_spec_file(docs: tuple[SourceDoc, ...]) -> bool:
    if any(isinstance(d.data, dict) and ("apiVersion" in d.data or "kind" in d.data) for d in docs):
        return True
    first = docs[0].data if docs else None
    return not (isinstance(first, dict) and any(str(k) in _COMPOSE_KEYS for k in first))


def _read_document(state: _State, doc: SourceDoc) -> None:
    data = doc.data
    if not isinstance(data, dict):
        state.add(
            doc.issue(
                (),
                "a document must be a mapping with apiVersion, kind, metadata and spec; "
                f"got {describe_value(data)}",
            )
        )
        return
    missing = [k for k in ("apiVersion", "kind") if k not in data]
    kind_value = data.get("kind")
    known_kind = kind_value if isinstance(kind_value, str) and kind_value in KINDS else None
    if known_kind == "Environment":
        state.environment_seen = True
    if missing or data.get("apiVersion") != API_VERSION or known_kind is None:
        # rejected before validation: references to it are not reported again as dangling
        for kind_name in [known_kind] if known_kind else list(KINDS):
            _remember_invalid(state, kind_name, data)
    if missing:
        state.add(
            doc.issue(
                (),
                f"missing {' and '.join(missing)} "
                f"(every document starts with apiVersion: {API_VERSION} and kind)",
            )
        )
        return
    api_version, kind = data["apiVersion"], data["kind"]
    if api_version != API_VERSION:
        state.add(
            doc.issue(("apiVersion",), f"unsupported apiVersion {api_version!r}; expected {API_VERSION}")
        )
        return
    if not isinstance(kind, str) or kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        state.add(doc.issue(("kind",), f"unknown kind {kind!r}{hint} (kinds: {', '.join(KINDS)})"))
        return
    model_cls = KINDS[kind]
    try:
        model = model_cls.model_validate(data)
    except ValidationError as error:
        for issue in _validation_issues(doc, model_cls, error):
            state.add(issue)
        _remember_invalid(state, kind, data)
        return
    state.docs.append(_Doc(kind, model.metadata.name, model, doc))


def _remember_invalid(state: _State, kind: str, data: Mapping[Hashable, object]) -> None:
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        state.invalid_names.setdefault(kind, set()).add(metadata["name"])
    spec = data.get("spec")
    if kind == "Images" and isinstance(spec, dict) and isinstance(spec.get("images"), dict):
        state.invalid_entries |= {str(k) for k in spec["images"]}


def _spec_candidates(state: _State) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` entry of the folder. One that cannot be read as a file (a
    dangling symlink, a symlink loop, a folder) is reported, never skipped: with ``prune: true``
    a skipped file would delete what it declares."""
    try:
        entries = sorted(p for p in state.env_dir.iterdir() if p.suffix in (".yaml", ".yml"))
    except OSError as error:
        state.add(SpecIssue(state.display(state.env_dir), None, "", f"cannot list the folder: {error.strerror}"))
        return []
    files = []
    for path in entries:
        try:
            is_file = path.is_file()
            exists = path.exists()
        except OSError as error:  # e.g. a symlink loop on some systems
            state.add(SpecIssue(state.display(path), None, "", f"cannot be read: {error.strerror or error}"))
            continue
        if is_file:
            files.append(path)
        elif path.is_symlink() and not exists:
            state.add(
                SpecIssue(state.display(path), None, "", "is a symlink that leads nowhere (dangling, or a loop)")
            )
        else:
            problem = "is not a file; spec files are read from the folder itself"
            state.add(SpecIssue(state.display(path), None, "", problem))
    return files


def _read_files(state: _State) -> None:
    files = _spec_candidates(state)
    parsed: dict[Path, tuple[SourceDoc, ...]] = {}
    broken: dict[Path, SpecError] = {}
    for path in files:
        try:
            parsed[path] = read_yaml(path, state.display(path), strict=False)
        except SpecError as error:
            broken[path] = error
        state.parsed[path.resolve()] = broken[path] if path in broken else parsed[path]
    compose_files = _compose_refs(state.env_dir, parsed)
    for path in files:
        if path.resolve() in compose_files:
            # read and checked as the stack's compose file, never as spec documents
            for doc in parsed.get(path, ()):
                if isinstance(doc.data, dict) and "apiVersion" in doc.data and "kind" in doc.data:
                    state.add(
                        doc.issue(
                            (),
                            "this file is a ComposeStack's composeFile but holds spec documents; "
                            "keep the compose file and the spec documents in separate files",
                        )
                    )
                    state.incomplete = True
                    break
            continue
        if path in broken:
            state.issues.extend(broken[path].issues)
            state.incomplete = True
            continue
        docs = parsed[path]
        if not docs or not _is_spec_file(docs):
            continue
        for doc in docs:
            state.issues.extend(doc.conversions)
            _read_document(state, doc)


def _unique(state: _State) -> dict[str, dict[str, _Doc]]:
    by_kind: dict[str, dict[str, _Doc]] = {kind: {} for kind in KINDS}
    for doc in state.docs:
        seen = by_kind[doc.kind]
        if doc.name in seen:
            first = seen[doc.name].source
            state.add(
                doc.source.issue(
                    ("metadata", "name"),
                    f"duplicate {doc.kind} name '{doc.name}' "
                    f"(first defined at {first.where(('metadata', 'name'))})",
                )
            )
            continue
        seen[doc.name] = doc
    return by_kind


def _models(docs: Mapping[str, _Doc], cls: type[D]) -> dict[str, D]:
    return {name: cast(D, docs[name].model) for name in sorted(docs)}


def _check_parameters(
    state: _State, env: Environment | None, sets: Mapping[str, ParameterSet], sources: Mapping[str, SourceDoc]
) -> None:
    full_names: dict[str, str] = {}  # full name -> where
    for set_name, pset in sets.items():
        src = sources[set_name]
        if env is not None and not path_is_under(pset.spec.path, env.spec.parameter_prefix):
            state.add(
                src.issue(
                    ("spec", "path"),
                    f"'{pset.spec.path}' is not under the environment's parameterPrefix "
                    f"'{env.spec.parameter_prefix}'",
                )
            )
        for key in pset.spec.parameters:
            loc = ("spec", "parameters", key)
            full = f"{pset.spec.path}/{key}"
            problem = ssm_name_problem(full)
            if problem:
                state.add(src.issue(loc, f"invalid SSM parameter name: {problem}"))
                continue
            if full in full_names:
                state.add(src.issue(loc, f"parameter {full} is already defined at {full_names[full]}"))
                continue
            full_names[full] = src.where(loc)


def _check_images(
    state: _State, env: Environment | None, images: Mapping[str, Images], sources: Mapping[str, SourceDoc]
) -> None:
    seen: dict[str, str] = {}
    for doc_name, doc in images.items():
        src = sources[doc_name]
        for entry_name, entry in doc.spec.images.items():
            loc = ("spec", "images", entry_name)
            if entry_name in seen:
                state.add(
                    src.issue(loc, f"image entry '{entry_name}' is already defined at {seen[entry_name]}")
                )
                continue
            seen[entry_name] = src.where(loc)
            if entry.registry is None and env is not None and env.spec.registry is None:
                state.add(
                    src.issue(
                        loc,
                        "no registry for this image: set registry on the entry "
                        "or spec.registry in the Environment",
                    )
                )


def _check_stacks(
    state: _State,
    env: Environment | None,
    stacks: Mapping[str, ComposeStack],
    sets: Mapping[str, ParameterSet],
    set_sources: Mapping[str, SourceDoc],
    images: Mapping[str, Images],
    sources: Mapping[str, SourceDoc],
) -> dict[str, ComposeModel]:
    entries = {name for doc in images.values() for name in doc.spec.images}
    composed: dict[Path, ComposeModel | None] = {}
    out: dict[str, ComposeModel] = {}
    projects: dict[str, str] = {}
    bad_env_keys: set[tuple[str, str]] = set()
    for stack_name, stack in stacks.items():
        src = sources[stack_name]
        spec = stack.spec

        project = spec.project or (f"{env.metadata.name}-{stack_name}" if env is not None else None)
        if project is not None:
            if project in projects:
                state.add(
                    src.issue(
                        ("spec", "project"),
                        f"compose project '{project}' is already used by stack {projects[project]}",
                    )
                )
            else:
                declared = ("spec", "project") if spec.project else ("metadata", "name")
                projects[project] = f"'{stack_name}' ({src.where(declared)})"

        _check_stack_hosts(state, env, src, spec.hosts)

        # the compose file
        path = (state.env_dir / spec.compose_file).resolve()
        if path not in composed:
            if not path.is_file():
                state.add(
                    src.issue(
                        ("spec", "composeFile"), f"compose file '{spec.compose_file}' not found ({path})"
                    )
                )
                composed[path] = None
            else:
                try:
                    composed[path] = _compose(state, path)
                except SpecError as error:
                    state.issues.extend(error.issues)
                    composed[path] = None
        compose = composed[path]
        if compose is not None:
            out[stack_name] = compose
            for service in spec.services:
                if service not in compose.services:
                    state.add(
                        src.issue(
                            ("spec", "services", service),
                            f"no service '{service}' in {compose.display} "
                            f"(services: {', '.join(compose.services)})",
                        )
                    )

        # references to ParameterSets, in the order they feed the stack
        used: list[tuple[tuple[Hashable, ...], str]] = [
            (("spec", "parameterSets", i), name) for i, name in enumerate(spec.parameter_sets)
        ]
        for service_name, settings in spec.services.items():
            used += [
                (("spec", "services", service_name, "environmentFrom", i), name)
                for i, name in enumerate(settings.environment_from)
            ]
            if (
                settings.image is not None
                and settings.image not in entries | state.invalid_entries
                and not state.incomplete
            ):
                state.add(
                    src.issue(
                        ("spec", "services", service_name, "image"),
                        f"no Images entry named '{settings.image}'{_known(entries)}",
                    )
                )
        env_names: dict[str, str] = {}  # env name -> set it comes from
        for loc, set_name in used:
            if set_name in state.invalid_names.get("ParameterSet", set()):
                continue  # reported where it is defined
            if set_name not in sets:
                if state.incomplete:
                    continue  # it may be in the file that could not be parsed
                state.add(src.issue(loc, f"no ParameterSet named '{set_name}'{_known(set(sets))}"))
                continue
            set_src = set_sources[set_name]
            for key in sets[set_name].spec.parameters:
                key_loc = ("spec", "parameters", key)
                if not ENV_NAME_RE.fullmatch(key):
                    if (set_name, key) not in bad_env_keys:
                        bad_env_keys.add((set_name, key))
                        state.add(
                            set_src.issue(
                                key_loc,
                                f"'{key}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*), "
                                f"and stack '{stack_name}' uses this set",
                            )
                        )
                    continue
                other = env_names.setdefault(key, set_name)
                if other != set_name:
                    state.add(
                        src.issue(
                            loc,
                            f"environment variable {key} comes from both ParameterSet '{other}' "
                            f"({set_sources[other].where(key_loc)}) and '{set_name}' "
                            f"({set_src.where(key_loc)}); a name may come from one set only within a stack",
                        )
                    )
        for host_name in spec.hosts:
            entry = (env.spec.hosts or {}).get(host_name) if env is not None else None
            for variable in entry.variables if entry is not None else ():
                if variable in env_names:
                    state.add(
                        src.issue(
                            ("spec", "hosts"),
                            f"variable {variable} comes from both host {host_name}'s variables and "
                            f"ParameterSet '{env_names[variable]}'; a name may come from one place only",
                        )
                    )
    return out


def _compose(state: _State, path: Path) -> ComposeModel:
    """The compose file at ``path`` (resolved), from what the folder's reading parsed when it is
    there, else read now. Raises SpecError."""
    parsed = state.parsed.get(path)
    if parsed is None:
        return load_compose(path, state.display(path))
    if isinstance(parsed, SpecError):
        raise SpecError(parsed.issues)
    return parse_compose(tuple(replace(doc, path=path) for doc in parsed), path, state.display(path))


def environment_hosts(env: Environment) -> list[str]:
    """The Environment's host names in rollout order (one named 'default' without ``hosts``)."""
    return list(env.spec.hosts) if env.spec.hosts else [DEFAULT_HOST]


def _check_stack_hosts(state: _State, env: Environment | None, src: SourceDoc, hosts: Sequence[str]) -> None:
    if env is None:
        return
    known = environment_hosts(env)
    if not hosts:
        if len(known) > 1:
            state.add(
                src.issue(
                    ("spec", "hosts"),
                    f"the environment has {len(known)} hosts ({', '.join(known)}); "
                    "say which this stack runs on, e.g. hosts: [" + ", ".join(known) + "]",
                )
            )
        return
    seen: set[str] = set()
    for i, name in enumerate(hosts):
        if name in seen:
            state.add(src.issue(("spec", "hosts", i), f"host '{name}' is listed twice"))
        elif name not in known:
            state.add(src.issue(("spec", "hosts", i), f"no host named '{name}' in the Environment{_known(set(known))}"))
        seen.add(name)


def _known(names: set[str]) -> str:
    return f" (known: {', '.join(sorted(names))})" if names else " (none defined)"


def load_environment(env_dir: Path, *, cwd: Path | None = None) -> LoadedEnvironment:
    """Read and validate every spec document of ``env_dir``. Raises SpecError listing all problems.

    ``cwd`` is the directory messages name files relative to (default: the working directory)."""
    state = _State(env_dir.resolve(), cwd)
    if not state.env_dir.is_dir():
        raise SpecError([SpecIssue(state.display(env_dir), None, "", "not a directory")])
    _read_files(state)
    by_kind = _unique(state)

    envs = by_kind["Environment"]
    env: Environment | None = None
    all_envs = [d for d in state.docs if d.kind == "Environment"]
    if not all_envs:
        if not state.environment_seen and not state.incomplete:
            state.add(
                SpecIssue(
                    state.display(env_dir),
                    None,
                    "",
                    "no Environment document found; every environment folder needs exactly one",
                )
            )
    else:
        first = all_envs[0]
        env = cast(Environment, first.model)
        for extra in all_envs[1:]:
            if extra.name in envs and envs[extra.name] is extra:
                state.add(
                    extra.source.issue(
                        ("kind",),
                        f"a second Environment ('{extra.name}'); the folder already has "
                        f"'{first.name}' at {first.source.where(('kind',))}",
                    )
                )

    sets = _models(by_kind["ParameterSet"], ParameterSet)
    images = _models(by_kind["Images"], Images)
    stacks = _models(by_kind["ComposeStack"], ComposeStack)
    set_sources = {n: d.source for n, d in by_kind["ParameterSet"].items()}
    image_sources = {n: d.source for n, d in by_kind["Images"].items()}
    stack_sources = {n: d.source for n, d in by_kind["ComposeStack"].items()}

    _check_parameters(state, env, sets, set_sources)
    _check_images(state, env, images, image_sources)
    compose = _check_stacks(state, env, stacks, sets, set_sources, images, stack_sources)

    if state.issues or env is None:
        raise SpecError(_sorted(state.issues))
    sources = {(kind, name): d.source for kind, docs in by_kind.items() for name, d in docs.items()}
    return LoadedEnvironment(
        env_dir=state.env_dir,
        environment=env,
        parameter_sets=sets,
        images=images,
        stacks=stacks,
        sources=sources,
        compose=compose,
    )


def _sorted(issues: list[SpecIssue]) -> list[SpecIssue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.file, i.line or 0))


__all__ = ["LoadedEnvironment", "format_loc", "load_environment"]
