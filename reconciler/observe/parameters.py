"""Read SSM Parameter Store: parameters under the spec's paths, and tags on demand. Does I/O
(through :class:`~reconciler.drivers.ssm.SsmReader`; the path merging and parsing here are pure).

Cost floor: each distinct subtree is read once with GetParametersByPath
(Recursive, 10 per page), so N parameters cost ceil(N/10) calls and nothing
else; tags are not fetched here (``ObservedParameter.tags`` is None) but, for
the few names the planner asks about, by :func:`observe_ownership` (parameters
about to be overwritten: one owner-filtered DescribeParameters per 50 names)
and :func:`observe_owned` (undeclared parameters under a ``prune: true`` path:
one tag-filtered DescribeParameters per path).

Decryption follows least privilege: a path is read WithDecryption only when its
ParameterPath asks for it. When a path that needs no decryption contains a
nested path that does, the outer subtree is read once without decryption and
the nested one again, decrypted and filtered to SecureString only. SecureString
values are always wrapped in :class:`~reconciler.core.model.Sensitive`; one that was
not decrypted holds the ciphertext, which compares unequal to any desired value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from reconciler.core.model import ParameterPath, ParamType, Sensitive, Value, path_is_under
from reconciler.core.observed import ObservedParameter
from reconciler.drivers.ssm import PAGE_SIZE, SsmReader

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

__all__ = [
    "PAGE_SIZE",
    "Read",
    "attach_tags",
    "observe_owned",
    "observe_ownership",
    "observe_parameters",
    "observe_tags",
    "plan_reads",
]


def normalize_path(path: str) -> str:
    return "/" + path.strip("/")


@dataclass(frozen=True)
class Read:
    """One GetParametersByPath walk."""

    path: str
    decrypt: bool
    secure_only: bool = False  # ParameterFilters Type=SecureString (nested decrypted re-read)


def plan_reads(paths: Sequence[ParameterPath]) -> list[Read]:
    """Merge nested/duplicate paths so each subtree is read once (pure)."""
    decrypt: dict[str, bool] = {}
    for spec in paths:
        norm = normalize_path(spec.path)
        decrypt[norm] = decrypt.get(norm, False) or spec.decrypt
    roots = [
        path
        for path in sorted(decrypt)
        if not any(path_is_under(path, other) for other in decrypt if other != path)
    ]
    reads: list[Read] = []
    for root in roots:
        nested = sorted(p for p in decrypt if p != root and path_is_under(p, root))
        if decrypt[root]:
            reads.append(Read(root, decrypt=True))
            continue
        reads.append(Read(root, decrypt=False))
        wanted = [p for p in nested if decrypt[p]]
        # only the outermost decrypting paths; their own nested ones are covered
        for p in wanted:
            if not any(path_is_under(p, q) for q in wanted if q != p):
                reads.append(Read(p, decrypt=True, secure_only=True))
    return reads


def _observed(raw: Any) -> ObservedParameter:
    ptype = cast(ParamType, raw["Type"])
    text = str(raw.get("Value", ""))
    value: Value = Sensitive(text) if ptype == "SecureString" else text
    return ObservedParameter(
        name=str(raw["Name"]),
        type=ptype,
        value=value,
        version=int(raw.get("Version", 1)),
        tags=None,
    )


def _reader(ssm: SSMClient | SsmReader) -> SsmReader:
    return ssm if isinstance(ssm, SsmReader) else SsmReader(ssm)


def observe_parameters(
    ssm: SSMClient | SsmReader, paths: Sequence[ParameterPath]
) -> dict[str, ObservedParameter]:
    """All parameters under ``paths`` (recursive), by full name."""
    reader = _reader(ssm)
    found: dict[str, ObservedParameter] = {}
    for read in plan_reads(paths):
        for raw in reader.parameters_by_path(read.path, decrypt=read.decrypt, secure_only=read.secure_only):
            param = _observed(raw)
            found[param.name] = param
    return found


def observe_tags(ssm: SSMClient | SsmReader, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Tags of each named parameter (one ListTagsForResource each); missing names are absent."""
    reader = _reader(ssm)
    tags: dict[str, dict[str, str]] = {}
    for name in dict.fromkeys(names):
        found = reader.tags(name)
        if found is not None:
            tags[name] = found
    return tags


def observe_ownership(
    ssm: SSMClient | SsmReader, names: Iterable[str], owner_key: str, owner: str
) -> dict[str, dict[str, str]]:
    """The owner tag of each named parameter that exists (missing names are absent).

    Ours are found in one DescribeParameters per 50 names, filtered by name and
    owner tag on the server; only the others (foreign or untagged: adoption, rare)
    cost one ListTagsForResource each, to tell who owns them."""
    reader = _reader(ssm)
    wanted = sorted(set(names))
    owned = reader.owned_among(wanted, owner_key, owner) if wanted else set()
    found: dict[str, dict[str, str]] = {name: {owner_key: owner} for name in owned}
    for name in wanted:
        if name in owned:
            continue
        tags = reader.tags(name)
        if tags is not None:
            found[name] = {owner_key: tags[owner_key]} if owner_key in tags else {}
    return found


def observe_owned(ssm: SSMClient | SsmReader, paths: Iterable[str], owner_key: str, owner: str) -> set[str]:
    """Names under ``paths`` (recursive) whose ``owner_key`` tag is ``owner``.

    One DescribeParameters call per 50 *owned* parameters per path, filtered by
    tag on the server: the cost does not grow with the foreign parameters that
    share the path (ListTagsForResource would cost one call each, every tick).
    """
    reader = _reader(ssm)
    owned: set[str] = set()
    roots = sorted({normalize_path(p) for p in paths})
    roots = [r for r in roots if not any(path_is_under(r, o) for o in roots if o != r)]
    for root in roots:
        owned |= reader.owned_names(root, owner_key, owner)
    return owned


def attach_tags(
    parameters: Mapping[str, ObservedParameter], tags: Mapping[str, Mapping[str, str]]
) -> dict[str, ObservedParameter]:
    """``parameters`` with the fetched ``tags`` filled in (others keep ``tags=None``). Pure."""
    return {
        name: replace(param, tags=dict(tags[name])) if name in tags else param
        for name, param in parameters.items()
    }


GET_PARAMETERS_BATCH = 10  # GetParameters names per call


def observe_versions(ssm: SSMClient | SsmReader, names: Iterable[str]) -> dict[str, int]:
    """Current version of each named parameter (missing names are absent): one GetParameters
    per 10 names, values not decrypted (only versions are read)."""
    reader = _reader(ssm)
    wanted = sorted(set(names))
    versions: dict[str, int] = {}
    for start in range(0, len(wanted), GET_PARAMETERS_BATCH):
        versions.update(reader.versions(wanted[start : start + GET_PARAMETERS_BATCH]))
    return versions
