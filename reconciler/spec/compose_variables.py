"""Where a compose file interpolates variables: each reference with its field and line. Pure.

Compose interpolates every string value of the file (never a key), the ``x-`` extensions and
the top-level sections included, whether or not a service uses them. :func:`variable_uses`
lists each reference (:class:`~reconciler.spec.interpolation.Reference`) as a
:class:`~reconciler.spec.compose_model.VariableUse`, with the field and line it is written at,
for :mod:`reconciler.spec.variable_checks` to judge against the values a stack gets. A value
reached through a YAML alias carries its anchor's line: a reference is listed once per line
(at the first field that reaches it), the one place to fix it. Invalid interpolations outside
``services`` are returned as issues (a service's are reported with it, by
:mod:`reconciler.spec.compose_services`).
"""

from __future__ import annotations

from reconciler.core.errors import SpecIssue
from reconciler.spec.compose_model import VariableUse
from reconciler.spec.compose_services import walk_strings
from reconciler.spec.interpolation import InterpolationError, references_in
from reconciler.spec.source import SourceDoc, format_loc


def variable_uses(doc: SourceDoc) -> tuple[tuple[VariableUse, ...], list[SpecIssue]]:
    """Every variable reference of the compose document ``doc``, once per line, in file order; and
    the invalid interpolations outside ``services``."""
    uses: dict[tuple[int, object], VariableUse] = {}
    issues: list[SpecIssue] = []
    for loc, text in walk_strings(doc.data, ()):
        try:
            references = references_in(text)
        except InterpolationError as error:
            if loc[:1] != ("services",):
                issues.append(doc.issue(loc, str(error)))
            continue
        line = doc.line_of(loc)
        for reference in references:
            uses.setdefault((line, reference), VariableUse(reference, format_loc(loc), line))
    return tuple(uses.values()), issues
