"""Compose's variable interpolation: which variables a string of a compose file uses. Pure.

Compose syntax: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+replacement}``, ``${VAR+replacement}``, nested
inside defaults; ``$$`` is a literal ``$``. :func:`variables_in` names the variables a string
interpolates and rejects, as :class:`InterpolationError`, what Compose would reject.
"""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class InterpolationError(ValueError):
    """A string Compose would reject as an invalid interpolation format."""


def _scan(text: str, start: int, nested: bool) -> tuple[set[str], int]:
    """The variable names in ``text[start:]`` and the index where scanning stopped.

    With ``nested`` the scan stops at the first unmatched ``}`` (the end of a
    ``${VAR:-...}`` default) and returns its index."""
    names: set[str] = set()
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if nested and c == "}":
            return names, i
        if c != "$":
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            i += 2
        elif nxt == "{":
            braced, i = _braced(text, i)
            names |= braced
        elif (match := _NAME_RE.match(text, i + 1)) is not None:
            names.add(match.group())
            i = match.end()
        else:
            i += 1  # a lone '$' stays literal, as in Compose
    return names, i


def _braced(text: str, start: int) -> tuple[set[str], int]:
    """The variable names of the ``${...}`` at ``text[start]`` and the index just after it."""
    n = len(text)
    match = _NAME_RE.match(text, start + 2)
    if match is None:
        raise InterpolationError(f"invalid interpolation format in {text!r}: '${{' must be followed by a name")
    name = match.group()
    j = match.end()
    if j < n and text[j] == "}":
        return {name}, j + 1
    if text.startswith((":-", ":?", ":+"), j):
        j += 2
    elif j < n and text[j] in "-?+":
        j += 1
    else:
        raise InterpolationError(
            f"invalid interpolation format in {text!r}: expected '}}' or one of :- - :? ? :+ + after '${{{name}'"
        )
    inner, end = _scan(text, j, nested=True)
    if end >= n:
        raise InterpolationError(f"invalid interpolation format in {text!r}: missing '}}'")
    return {name} | inner, end + 1


def variables_in(text: str) -> set[str]:
    """Names of the variables ``text`` interpolates (compose syntax). Pure.

    Raises InterpolationError for what Compose rejects (``${``, ``${1}``, ``${A`` ...)."""
    return _scan(text, 0, nested=False)[0]
