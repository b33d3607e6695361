"""Where a compose file interpolates variables: each reference with its field and line. Pure.

Compose interpolates every string value of the file (never a key), the ``x-`` extensions and
the top-level sections included, whether or not a service uses them. :func:`variable_uses`
lists each reference (:class:`~reconciler.spec.interpolation.Reference`) as a
:class:`~reconciler.spec.compose_model.VariableUse`, with the field and line it is written at,
for :mod:`reconciler.spec.variable_checks` to judge against the values a stack gets. A value
reached through a YAML alias carries its anchor's line: a reference is listed once per line
(at the first field that reaches it), the one place to fix it. Invalid interpolations outside
``services`` are returned as issues (a service's are reported with it, by
:mod:`reconciler.spec.compose_services`). :func:`resolve_path` interpolates a path Compose reads
while loading the project (an include or extends file, an ``env_file``) with the values validate knows.
"""

from __future__ import annotations

from reconciler.core.errors import SpecIssue
from reconciler.spec.compose_model import VariableUse
from reconciler.spec.compose_services import walk_strings
from reconciler.spec.interpolation import InterpolationError, Unresolved, Values, references_in, substitute
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


def resolve_path(text: str, values: Values) -> tuple[str, str]:
    """(``text`` interpolated with ``values``, "") or ("", why it cannot be, naming the variable)."""
    try:
        return substitute(text, values), ""
    except InterpolationError as error:
        return "", str(error)
    except Unresolved as error:
        name = error.name
        if error.why == "unset":
            why = f"names variable {name}, which is not set for this stack (a ParameterSet key or a host variable)"
        elif error.why == "required":
            why = f"names required variable {name}, which is not set (or empty) for this stack"
        else:
            why = (
                f"names variable {name}, whose value is not known when validating (a SecureString, a value "
                "from Secrets Manager or the reconciler's process, or a host variable that differs between "
                "the stack's hosts): give it as a String parameter or the same host variable on every host"
            )
        return "", why
