"""Compose's ``!reset`` and ``!override`` YAML tags, applied as Compose v2 applies them. Pure.

compose-go (``loader/reset.go``) reads a compose file with a processor that drops every value
tagged ``!reset`` from the file's own data (the YAML readers do the same: a ``!reset`` value is
not in :attr:`SourceDoc.data`, its place is in :attr:`SourceDoc.tags`) and remembers the path
of every ``!reset`` and ``!override``; before the file's values are merged onto what they
inherit (the service an ``extends`` names, the earlier files of an include's ``path`` list),
whatever the inherited side holds at those paths is deleted. So ``!reset`` removes an inherited
value and ``!override`` replaces it instead of merging (:func:`inherited_paths`,
:func:`without`). Compose removes through mappings only: a tag on a list item changes nothing
inherited, which is why :func:`tag_issues` refuses it, with any tag Compose does not define and
a tag on the whole document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from reconciler.core.errors import SpecIssue
from reconciler.spec.source import Loc, SourceDoc
from reconciler.spec.yaml.document import OVERRIDE, RESET, format_loc

COMPOSE_TAGS = (RESET, OVERRIDE)


def tag_issues(doc: SourceDoc) -> list[SpecIssue]:
    """The tags of the compose document ``doc`` the reconciler cannot apply as Compose means them."""
    issues: list[SpecIssue] = []
    for loc, (tag, line) in doc.tags.items():
        if tag not in COMPOSE_TAGS:
            message = (
                f"the YAML tag {tag} is not one of Compose's ({', '.join(COMPOSE_TAGS)}); Compose ignores it, the "
                "reconciler refuses it: remove the tag"
            )
        elif not loc:
            message = f"{tag} on the whole document resets nothing: put it on a value, e.g. ports: {tag} []"
        elif isinstance(loc[-1], int) and not isinstance(loc[-1], bool):
            message = (
                f"{tag} on one list item: Compose removes or replaces only mapping values, so the inherited "
                f"list keeps the item; put the tag on the list itself (e.g. ports: {tag} [...])"
            )
        else:
            continue
        issues.append(SpecIssue(doc.display, line, format_loc(loc), message))
    return issues


def inherited_paths(doc: SourceDoc, prefix: Loc) -> list[Loc]:
    """The paths under ``prefix`` that ``doc`` tags ``!reset`` or ``!override`` (relative to ``prefix``):
    what is deleted from the value ``prefix`` inherits before ``doc``'s is merged onto it."""
    size = len(prefix)
    return [loc[size:] for loc, (tag, _) in doc.tags.items() if tag in COMPOSE_TAGS and loc[:size] == prefix]


def without(value: Mapping[str, object], paths: Iterable[Loc]) -> dict[str, object]:
    """``value`` with what lies at each of ``paths`` deleted, through mappings only (new data; an
    empty path deletes everything)."""
    out = dict(value)
    for path in paths:
        if not path:
            return {}
        out = _delete(out, path)
    return out


def _delete(value: dict[str, object], path: Loc) -> dict[str, object]:
    key = path[0]
    if not isinstance(key, str) or key not in value:
        return value
    out = dict(value)
    if len(path) == 1:
        del out[key]
    elif isinstance(out[key], dict):
        out[key] = _delete(cast(dict[str, object], out[key]), path[1:])
    return out
