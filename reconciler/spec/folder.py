"""Read an environment folder's YAML files into the spec documents they declare. Pure apart from reading files.

:func:`read_folder` reads every ``*.yaml``/``*.yml`` file directly in the folder
(subfolders are not read) and validates each document on its own against its kind's
model. Which files hold spec documents: every YAML file of the folder, except

* a file some ComposeStack names as its ``composeFile``: it is read (and checked) as a
  compose file, never as spec documents;
* a file none of whose documents has ``apiVersion`` or ``kind`` at the top level while
  its first document has a top-level ``services``, ``networks``, ``volumes``,
  ``configs``, ``secrets``, ``include`` or ``name`` key: an unreferenced compose file
  (e.g. ``docker-compose.override.yml``), ignored.

Any other document missing ``apiVersion`` or ``kind`` is an error; empty documents (a
bare ``---``) are skipped. The result, a :class:`FolderRead`, holds the valid documents,
the issues found so far and what the checks across documents need to know of the rest
(which names exist but are invalid, whether a file could not be parsed).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.spec.documents import API_VERSION, KINDS, Document, describe_value
from reconciler.spec.model_errors import validation_issues
from reconciler.spec.source import SourceDoc, display_path, read_yaml, real_path

_COMPOSE_KEYS = frozenset({"services", "networks", "volumes", "configs", "secrets", "include", "name"})

LEADS_NOWHERE = "is a symlink that leads nowhere (dangling, or a loop)"

#: A YAML file of the folder as parsed, or why it could not be.
Parsed = tuple[SourceDoc, ...] | SpecError


@dataclass(frozen=True)
class ReadDocument:
    """A valid spec document and where it was written."""

    kind: str
    name: str
    model: Document
    source: SourceDoc


@dataclass(frozen=True)
class FolderRead:
    """What reading the folder found: the valid documents (in file order) and the issues so far."""

    documents: tuple[ReadDocument, ...]
    issues: tuple[SpecIssue, ...]
    environment_seen: bool  # some document says kind: Environment (valid or not)
    # (kind, name) of documents, and names of Images entries, that exist but are invalid:
    # references to them are not reported again as dangling
    invalid: frozenset[tuple[str, str]]
    invalid_entries: frozenset[str]
    incomplete: bool  # a file could not be parsed: references into it cannot be checked
    # every YAML file of the folder as parsed (by resolved path): a stack's compose file in the
    # folder is not read twice
    parsed: Mapping[Path, Parsed]


@dataclass(frozen=True)
class _Reading:
    """What one document (or one file that yields no document) contributes."""

    issues: tuple[SpecIssue, ...] = ()
    document: ReadDocument | None = None
    says_environment: bool = False
    invalid: frozenset[tuple[str, str]] = frozenset()
    invalid_entries: frozenset[str] = frozenset()
    incomplete: bool = False


def read_folder(env_dir: Path, cwd: Path | None) -> FolderRead:
    """Read and validate, one by one, the spec documents of ``env_dir`` (resolved). ``cwd``: see
    :func:`~reconciler.spec.source.display_path`."""
    files, listing_issues = _spec_candidates(env_dir, cwd)
    parsed = {path: _parse(path, cwd) for path in files}
    compose_files = _compose_refs(env_dir, [docs for docs in parsed.values() if not isinstance(docs, SpecError)])
    readings = [r for path in files for r in _read_file(parsed[path], real_path(path) in compose_files)]
    return FolderRead(
        documents=tuple(r.document for r in readings if r.document is not None),
        issues=(*listing_issues, *(issue for r in readings for issue in r.issues)),
        environment_seen=any(r.says_environment for r in readings),
        invalid=frozenset(name for r in readings for name in r.invalid),
        invalid_entries=frozenset(entry for r in readings for entry in r.invalid_entries),
        incomplete=any(r.incomplete for r in readings),
        parsed={real_path(path): docs for path, docs in parsed.items()},
    )


def _spec_candidates(env_dir: Path, cwd: Path | None) -> tuple[list[Path], list[SpecIssue]]:
    """Every ``*.yaml``/``*.yml`` entry of the folder that is a file, and an issue for each other
    one. One that cannot be read as a file (a dangling symlink, a symlink loop, a folder) is
    reported, never skipped: with ``prune: true`` a skipped file would delete what it declares."""
    try:
        entries = sorted(p for p in env_dir.iterdir() if p.suffix in (".yaml", ".yml"))
    except OSError as error:
        return [], [SpecIssue(display_path(env_dir, cwd), None, "", f"cannot list the folder: {error.strerror}")]
    problems = [(path, _not_a_file(path)) for path in entries]
    files = [path for path, problem in problems if problem is None]
    issues = [SpecIssue(display_path(path, cwd), None, "", problem) for path, problem in problems if problem]
    return files, issues


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a spec file, or None when it can."""
    try:
        is_file = path.is_file()
        exists = path.exists()
    except OSError as error:  # e.g. a symlink loop on some systems
        return f"cannot be read: {error.strerror or error}"
    if is_file:
        return None
    if path.is_symlink() and not exists:
        return LEADS_NOWHERE
    return "is not a file; spec files are read from the folder itself"


def _parse(path: Path, cwd: Path | None) -> Parsed:
    try:
        return read_yaml(path, display_path(path, cwd), strict=False)
    except SpecError as error:
        return error


def _compose_refs(env_dir: Path, parsed: Iterable[tuple[SourceDoc, ...]]) -> set[Path]:
    """The resolved paths the ComposeStacks of the folder name as their compose file."""
    refs: set[Path] = set()
    for docs in parsed:
        for doc in docs:
            data = doc.data
            if isinstance(data, dict) and data.get("kind") == "ComposeStack":
                spec = data.get("spec")
                if isinstance(spec, dict) and isinstance(spec.get("composeFile"), str):
                    refs.add(real_path(env_dir / spec["composeFile"]))
    return refs


def _read_file(parsed: Parsed, is_compose_file: bool) -> list[_Reading]:
    if is_compose_file:
        # read and checked as the stack's compose file, never as spec documents
        return _compose_file_with_documents(parsed)
    if isinstance(parsed, SpecError):
        return [_Reading(issues=tuple(parsed.issues), incomplete=True)]
    if not parsed or not _is_spec_file(parsed):
        return []
    return [_read_document(doc) for doc in parsed]


def _compose_file_with_documents(parsed: Parsed) -> list[_Reading]:
    """An issue when a file a ComposeStack names as its compose file holds spec documents."""
    for doc in () if isinstance(parsed, SpecError) else parsed:
        if isinstance(doc.data, dict) and "apiVersion" in doc.data and "kind" in doc.data:
            issue = doc.issue(
                (),
                "this file is a ComposeStack's composeFile but holds spec documents; "
                "keep the compose file and the spec documents in separate files",
            )
            return [_Reading(issues=(issue,), incomplete=True)]
    return []


def _is_spec_file(docs: tuple[SourceDoc, ...]) -> bool:
    if any(isinstance(d.data, dict) and ("apiVersion" in d.data or "kind" in d.data) for d in docs):
        return True
    first = docs[0].data if docs else None
    return not (isinstance(first, dict) and any(str(k) in _COMPOSE_KEYS for k in first))


def _read_document(doc: SourceDoc) -> _Reading:
    """Validate one document against its kind's model. Values YAML converted come first."""
    data = doc.data
    if not isinstance(data, dict):
        problem = (
            f"a document must be a mapping with apiVersion, kind, metadata and spec; got {describe_value(data)}"
        )
        return _Reading(issues=(*doc.conversions, doc.issue((), problem)))
    kind_value = data.get("kind")
    known_kind = kind_value if isinstance(kind_value, str) and kind_value in KINDS else None
    says_environment = known_kind == "Environment"
    envelope = _envelope_issue(doc, data)
    if envelope is not None:
        # rejected before validation: references to it are not reported again as dangling
        invalid, entries = _invalid_names([known_kind] if known_kind else list(KINDS), data)
        issues = (*doc.conversions, envelope)
        return _Reading(issues, says_environment=says_environment, invalid=invalid, invalid_entries=entries)
    kind: str = data["kind"]
    model_cls = KINDS[kind]
    try:
        model = model_cls.model_validate(data)
    except ValidationError as error:
        invalid, entries = _invalid_names([kind], data)
        issues = (*doc.conversions, *validation_issues(doc, model_cls, error))
        return _Reading(issues, says_environment=says_environment, invalid=invalid, invalid_entries=entries)
    document = ReadDocument(kind, model.metadata.name, model, doc)
    return _Reading(doc.conversions, document, says_environment=says_environment)


def _envelope_issue(doc: SourceDoc, data: Mapping[Hashable, object]) -> SpecIssue | None:
    """What is wrong with the ``apiVersion`` and ``kind`` of a document, or None."""
    missing = [k for k in ("apiVersion", "kind") if k not in data]
    if missing:
        return doc.issue(
            (),
            f"missing {' and '.join(missing)} (every document starts with apiVersion: {API_VERSION} and kind)",
        )
    api_version, kind = data["apiVersion"], data["kind"]
    if api_version != API_VERSION:
        return doc.issue(("apiVersion",), f"unsupported apiVersion {api_version!r}; expected {API_VERSION}")
    if not isinstance(kind, str) or kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return doc.issue(("kind",), f"unknown kind {kind!r}{hint} (kinds: {', '.join(KINDS)})")
    return None


def _invalid_names(
    kinds: Collection[str], data: Mapping[Hashable, object]
) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """The (kind, name) an invalid document would have had, and its Images entry names."""
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    names = frozenset((kind, name) for kind in kinds) if isinstance(name, str) else frozenset()
    spec = data.get("spec")
    images = spec.get("images") if "Images" in kinds and isinstance(spec, dict) else None
    entries = frozenset(str(k) for k in images) if isinstance(images, dict) else frozenset()
    return names, entries
