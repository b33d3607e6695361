"""Image automation policies: which of a repository's tags is the newest one allowed. Pure.

Flux's three policies over a (filtered) tag list: **semver** (the highest version a range
allows, npm's range grammar: ``>=2.0.0 <3``, ``^2.1``, ``~1.4``, ``2.x || 3.1.x``),
**numerical** and **alphabetical** (the last tag in ascending order, or the first with
``desc``). ``filter_pattern`` keeps only the tags matching a regular expression and
``extract`` (``$ts``, ``${ts}``, ``$1``) names the part of the tag that is compared, as Flux's
``filterTags``. A tag is read as semver as Flux reads it (a leading ``v`` and a missing minor or
patch allowed: ``v2.1`` is 2.1.0); a range excludes pre-releases unless it names one on the
same version, as npm does.

:func:`choose` never goes back: the newest allowed tag is chosen only when it is newer, in the
policy's order, than the current one; when the current tag is itself newer (out of the range,
say), nothing changes. The library is ``semantic_version`` (its ``NpmSpec``); :func:`range_problem`
and :func:`filter_problem` word a malformed range or pattern for the spec checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import semantic_version

PolicyKind = Literal["semver", "numerical", "alphabetical"]
Order = Literal["asc", "desc"]

_SEMVER = re.compile(
    r"v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TEMPLATE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)|(\$))")


@dataclass(frozen=True)
class ImagePolicy:
    """How image-update picks an entry's tag."""

    kind: PolicyKind
    semver_range: str | None = None  # kind semver
    order: Order = "asc"  # numerical and alphabetical: asc = the greatest is the newest
    filter_pattern: str | None = None  # keep only the tags it matches (re.search, as Go's MatchString)
    extract: str | None = None  # what of the match is compared ($name, ${name}, $1); default: the tag
    pin_digest: bool = False  # write the tag's digest beside it (the digest runs)

    def describe(self) -> str:
        what = f"semver {self.semver_range}" if self.kind == "semver" else f"{self.kind} {self.order}"
        return what + (f" of tags matching {self.filter_pattern}" if self.filter_pattern else "")


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` decided for one entry: ``tag`` to set, or None to keep the current one."""

    tag: str | None
    reason: str


def range_problem(text: str) -> str | None:
    """Why ``text`` is not a semver range, or None."""
    if not text.strip():
        return "a semver range must not be empty (e.g. '>=2.0.0 <3')"
    try:
        semantic_version.NpmSpec(text)
    except ValueError as exc:
        return f"{text!r} is not a semver range ({exc}); e.g. '>=2.0.0 <3', '^2.1', '~1.4.0', '2.x || 3.x'"
    return None


def filter_problem(pattern: str, extract: str | None) -> str | None:
    """Why ``pattern`` (with ``extract``) cannot filter tags, or None."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"pattern {pattern!r} is not a regular expression: {exc}"
    if extract is None:
        return None
    for match in _TEMPLATE.finditer(extract):
        group = match.group(1) or match.group(2)
        if group is None:
            continue
        known = group in compiled.groupindex or (group.isdigit() and int(group) <= compiled.groups)
        if not known:
            names = ", ".join(f"${n}" for n in compiled.groupindex) or "none named"
            return f"extract {extract!r} names group {group!r}, which pattern {pattern!r} does not have ({names})"
    return None


@lru_cache(maxsize=256)
def _range(text: str) -> semantic_version.NpmSpec:
    return semantic_version.NpmSpec(text)


def semver_of(tag: str) -> semantic_version.Version | None:
    """``tag`` as a version (``v2.1`` -> 2.1.0), None when it is not one."""
    m = _SEMVER.fullmatch(tag)
    if m is None:
        return None
    major, minor, patch, pre, build = m.groups()
    try:
        return semantic_version.Version(
            major=int(major),
            minor=int(minor or 0),
            patch=int(patch or 0),
            prerelease=tuple(pre.split(".")) if pre else (),
            build=tuple(build.split(".")) if build else (),
        )
    except ValueError:
        return None


def _extracted(policy: ImagePolicy, tag: str) -> str | None:
    if policy.filter_pattern is None:
        return tag
    match = re.search(policy.filter_pattern, tag)
    if match is None:
        return None
    if policy.extract is None:
        return tag
    python = _TEMPLATE.sub(lambda m: "$" if m.group(3) else f"\\g<{m.group(1) or m.group(2)}>", policy.extract)
    return match.expand(python)


def _key(policy: ImagePolicy, tag: str) -> tuple[object, ...] | None:
    """The sort key of ``tag`` under ``policy`` (greater = newer), None when the policy leaves it out."""
    value = _extracted(policy, tag)
    if value is None:
        return None
    if policy.kind == "semver":
        version = semver_of(value)
        if version is None or not _range(policy.semver_range or "*").match(version):
            return None
        return (version,)
    if policy.kind == "numerical":
        if _NUMBER.fullmatch(value) is None or not math.isfinite(number := float(value)):
            return None
        return (number if policy.order == "asc" else -number,)
    return (_Text(value, policy.order == "desc"),)


@dataclass(frozen=True)
class _Text:
    """A string ordered ascending, or descending with ``reverse``."""

    value: str
    reverse: bool

    def __lt__(self, other: _Text) -> bool:
        return other.value < self.value if self.reverse else self.value < other.value


def _current_key(policy: ImagePolicy, tag: str) -> tuple[object, ...] | None:
    """The current tag's key in the policy's order, ignoring the range and the filter's verdict
    where it can (a current 3.0.0 outside ``<3`` is still newer than 2.9.0)."""
    if policy.kind == "semver":
        version = semver_of(_extracted(policy, tag) or tag)
        return None if version is None else (version,)
    return _key(policy, tag)


def newest(policy: ImagePolicy, tags: Iterable[str], prefer: str | None = None) -> str | None:
    """The newest tag ``policy`` allows among ``tags`` (ties: ``prefer``, else the greatest string)."""
    best: tuple[tuple[object, ...], bool, str] | None = None
    for tag in tags:
        key = _key(policy, tag)
        if key is None:
            continue
        candidate = (key, tag == prefer, tag)
        if best is None or _greater(candidate, best):
            best = candidate
    return None if best is None else best[2]


def _greater(a: tuple[tuple[object, ...], bool, str], b: tuple[tuple[object, ...], bool, str]) -> bool:
    if a[0] != b[0]:
        return bool(b[0] < a[0])
    return (a[1], a[2]) > (b[1], b[2])


def choose(policy: ImagePolicy, tags: Iterable[str], current: str | None) -> Choice:
    """The tag to set for an entry running ``current``, or why it stays (never older than current)."""
    pick = newest(policy, tags, prefer=current)
    if pick is None:
        return Choice(None, f"no tag matches the policy ({policy.describe()})")
    if pick == current:
        return Choice(None, f"{current} is the newest the policy allows")
    now = _current_key(policy, current) if current is not None else None
    picked = _key(policy, pick)
    if now is not None and picked is not None and not now < picked:
        return Choice(None, f"{current} is newer than {pick}, the newest the policy allows: never downgraded")
    return Choice(pick, f"{pick} is the newest tag the policy allows ({policy.describe()})")


def is_newer(policy: ImagePolicy, tag: str, than: str | None) -> bool:
    """Whether ``tag`` is newer than ``than`` in the policy's order (True when ``than`` is not in it)."""
    if than is None or tag == than:
        return than is None
    new, old = _key(policy, tag), _current_key(policy, than)
    if new is None:
        return False
    return old is None or bool(old < new)
