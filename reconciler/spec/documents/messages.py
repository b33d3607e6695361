"""How a broken rule and a YAML value read in the messages of the spec models. Pure.

:func:`invalid` is the error every model and field validator raises (pydantic carries
its message to the loader, which adds file, line and field); :func:`describe_value`
and :func:`quote_hint` word a value the user wrote, so that ``tag: 1.10`` reads as
``a number (1.1); quote it``.
"""

from __future__ import annotations

from pydantic_core import PydanticCustomError


def invalid(kind: str, message: str) -> PydanticCustomError:
    """The validation error of a rule named ``kind``, worded by ``message``."""
    return PydanticCustomError(kind, message)


def describe_value(value: object) -> str:
    """How a YAML value reads in a message: ``a number (3306)``, ``a list``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def quote_hint(value: object) -> str:
    """``"; quote it"`` for a number or boolean YAML read where a string was meant, else ``""``."""
    return "; quote it" if isinstance(value, int | float | bool) else ""
