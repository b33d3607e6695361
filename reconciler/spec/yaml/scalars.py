"""Plain YAML scalars resolved as the reference reader (ruamel.yaml, YAML 1.2) resolves them. Pure.

YAML 1.2's core schema, as ruamel.yaml implements it: ``~``, ``null``, ``Null``, ``NULL`` and
nothing are null; ``true``/``True``/``TRUE`` and ``false``/``False``/``FALSE`` are booleans (not
``on``, ``yes``, ``y``); integers are decimal (a leading zero stays decimal: ``0777`` is 777),
``0o`` octal, ``0x`` hex or ``0b`` binary; floats have a dot or an exponent, or are
``.inf``/``.nan``; ruamel.yaml also lets ``_`` separate digits (``1_000`` is 1000). Sexagesimal
numbers (``1:30``) are strings. The patterns, the order they are tried in (by first character)
and the conversions are ruamel.yaml's, so the two readers cannot disagree on a value. Quoted
scalars are never resolved: they are strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final


class Unsupported(ValueError):
    """A plain scalar the reference reader makes something other than plain data (a timestamp,
    ``=``), or fails to convert; the fast reader leaves the whole file to it."""


class _Merge:
    def __repr__(self) -> str:
        return "MERGE"


MERGE: Final = _Merge()  # the merge key ``<<``

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT = re.compile(
    r"""^(?:
     [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
_MERGE = re.compile(r"^(?:<<)$")
_NULL = re.compile(
    r"""^(?: ~
    |null|Null|NULL
    | )$""",
    re.X,
)
_TIMESTAMP = re.compile(
    r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
    (?:[Tt]|[ \t]+)[0-9][0-9]?
    :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
    (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
    re.X,
)
_VALUE = re.compile(r"^(?:=)$")
_YAML = re.compile(r"^(?:!|&|\*)$")


def _bool(text: str) -> object:
    try:
        return {"true": True, "false": False}[text.lower()]
    except KeyError:
        raise Unsupported(text) from None


def _int(text: str) -> object:
    digits = text.replace("_", "")
    try:
        sign = -1 if digits[0] == "-" else 1
        if digits[0] in "+-":
            digits = digits[1:]
        base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2], 10)
        if base != 10:
            digits = digits[2:]
        return sign * int(digits, base)
    except (IndexError, ValueError):
        raise Unsupported(text) from None


def _float(text: str) -> object:
    digits = text.replace("_", "").lower()
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == ".inf":
        return sign * math.inf
    if digits == ".nan":
        return math.nan
    try:
        return sign * float(digits)
    except ValueError:
        raise Unsupported(text) from None


def _null(text: str) -> object:
    return None


def _merge(text: str) -> object:
    return MERGE


def _unsupported(text: str) -> object:
    raise Unsupported(text)


_RESOLVERS: tuple[tuple[re.Pattern[str], Callable[[str], object], tuple[str, ...]], ...] = (
    (_BOOL, _bool, tuple("tTfF")),
    (_FLOAT, _float, tuple("-+0123456789.")),
    (_INT, _int, tuple("-+0123456789")),
    (_MERGE, _merge, ("<",)),
    (_NULL, _null, ("~", "n", "N", "")),
    (_TIMESTAMP, _unsupported, tuple("0123456789")),
    (_VALUE, _unsupported, ("=",)),
    (_YAML, _unsupported, tuple("!&*")),
)
_BY_FIRST: dict[str, list[tuple[re.Pattern[str], Callable[[str], object]]]] = {}
for _pattern, _construct, _firsts in _RESOLVERS:
    for _first in _firsts:
        _BY_FIRST.setdefault(_first, []).append((_pattern, _construct))


def resolve_plain(text: str) -> object:
    """The value of the plain (unquoted, untagged) scalar ``text``: None, a bool, an int, a float,
    :data:`MERGE` for ``<<``, or the text itself. Raises Unsupported (see the class)."""
    for pattern, construct in _BY_FIRST.get(text[:1], ()):
        if pattern.match(text):
            return construct(text)
    return text
