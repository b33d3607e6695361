"""Compose's variable interpolation: which variables a string of a compose file uses, and how. Pure.

Compose syntax: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+replacement}``, ``${VAR+replacement}``, nested
inside defaults; ``$$`` is a literal ``$``. :func:`references_in` lists each reference with
what it needs of its variable, as Compose (compose-go) evaluates it: every reference, nested
ones included, is evaluated whatever the outer variable holds; a plain ``$VAR``/``${VAR}``
that is unset makes Compose warn and substitute an empty string, ``${VAR?err}`` fails when
``VAR`` is unset and ``${VAR:?err}`` when it is unset or empty, and the other forms need
nothing. :func:`variables_in` names the variables a string interpolates. Both reject, as
:class:`InterpolationError`, what Compose would reject. :func:`substitute` interpolates a string
(an include or extends path, an ``env_file``) with the values known when validating.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

_NAME_RE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")

#: What a reference needs of its variable: nothing, to be set, or to be set and not empty.
Need = Literal["nothing", "set", "value"]


class InterpolationError(ValueError):
    """A string Compose would reject as an invalid interpolation format."""


@dataclass(frozen=True)
class Reference:
    """One ``$VAR`` / ``${VAR...}`` of a string: the variable, what it needs, and for the required
    forms (``${VAR?err}``, ``${VAR:?err}``) the error text, as written."""

    name: str
    need: Need
    form: str  # "", ":-", "-", ":?", "?", ":+", "+"
    error: str = ""

    @property
    def required(self) -> bool:
        return self.form in (":?", "?")


def _scan(text: str, start: int, nested: bool) -> tuple[list[Reference], int]:
    """The references in ``text[start:]`` and the index where scanning stopped.

    With ``nested`` the scan stops at the first unmatched ``}`` (the end of a
    ``${VAR:-...}`` default) and returns its index."""
    found: list[Reference] = []
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if nested and c == "}":
            return found, i
        if c != "$":
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            i += 2
        elif nxt == "{":
            braced, i = _braced(text, i)
            found += braced
        elif (match := _NAME_RE.match(text, i + 1)) is not None:
            found.append(Reference(match.group(), "set", ""))
            i = match.end()
        else:
            i += 1  # a lone '$' stays literal, as in Compose
    return found, i


def _braced(text: str, start: int) -> tuple[list[Reference], int]:
    """The references of the ``${...}`` at ``text[start]`` and the index just after it."""
    n = len(text)
    match = _NAME_RE.match(text, start + 2)
    if match is None:
        raise InterpolationError(f"invalid interpolation format in {text!r}: '${{' must be followed by a name")
    name = match.group()
    j = match.end()
    if j < n and text[j] == "}":
        return [Reference(name, "set", "")], j + 1
    if text.startswith((":-", ":?", ":+"), j):
        form = text[j : j + 2]
    elif j < n and text[j] in "-?+":
        form = text[j]
    else:
        raise InterpolationError(
            f"invalid interpolation format in {text!r}: expected '}}' or one of :- - :? ? :+ + after '${{{name}'"
        )
    inner, end = _scan(text, j + len(form), nested=True)
    if end >= n:
        raise InterpolationError(f"invalid interpolation format in {text!r}: missing '}}'")
    need: Need = "value" if form == ":?" else "set" if form == "?" else "nothing"
    error = text[j + len(form) : end] if form in (":?", "?") else ""
    return [Reference(name, need, form, error), *inner], end + 1


def references_in(text: str) -> tuple[Reference, ...]:
    """Every variable reference of ``text`` (compose syntax), nested ones included, in order. Pure.

    Raises InterpolationError for what Compose rejects (``${``, ``${1}``, ``${A`` ...)."""
    return tuple(_scan(text, 0, nested=False)[0])


def variables_in(text: str) -> set[str]:
    """Names of the variables ``text`` interpolates (compose syntax). Pure.

    Raises InterpolationError for what Compose rejects (``${``, ``${1}``, ``${A`` ...)."""
    return {reference.name for reference in references_in(text)}


#: Variable name -> its value (``None``: set, its value not known here); a name absent is unset.
Values = Mapping[str, str | None]

#: How a variable a string needs cannot be given a value: unset, set with a value not known here
#: (``None`` in the values), or a required ``${VAR?err}`` / ``${VAR:?err}`` unset (or empty).
Unknown = Literal["unset", "unknown", "required"]


class Unresolved(ValueError):
    """A string needs a variable whose value cannot be given: :attr:`name` and :attr:`why`."""

    def __init__(self, name: str, why: Unknown) -> None:
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why: Unknown = why


def substitute(text: str, values: Values) -> str:
    """``text`` interpolated as Compose interpolates it, with ``values`` (a name absent is unset;
    ``None``: set, its value not known here). Pure. A default or replacement is evaluated only when
    it is used. Raises Unresolved where the result needs what ``values`` cannot give (an unset
    ``${VAR}`` too, which Compose would replace with an empty string), InterpolationError for what
    Compose rejects."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c != "$":
            out.append(c)
            i += 1
        elif nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            value, i = _substitute_braced(text, i, values)
            out.append(value)
        elif (match := _NAME_RE.match(text, i + 1)) is not None:
            out.append(_value(match.group(), values))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _substitute_braced(text: str, start: int, values: Values) -> tuple[str, int]:
    (reference, *_), end = _braced(text, start)  # validates, and finds where it ends
    name, form = reference.name, reference.form
    if not form:
        return _value(name, values), end
    inner = text[start + 2 + len(name) + len(form) : end - 1]  # the default or replacement
    given = name in values
    value = values.get(name)
    empty_counts = form.startswith(":")
    if given and value is None and form != "+":
        raise Unresolved(name, "unknown")
    usable = given and not (empty_counts and value == "")
    if form in (":-", "-"):
        return ((value or "") if usable else substitute(inner, values)), end
    if form in (":?", "?"):
        if not usable:
            raise Unresolved(name, "required")
        return value or "", end
    return (substitute(inner, values) if usable else ""), end


def _value(name: str, values: Values) -> str:
    if name not in values:
        raise Unresolved(name, "unset")
    value = values[name]
    if value is None:
        raise Unresolved(name, "unknown")
    return value
