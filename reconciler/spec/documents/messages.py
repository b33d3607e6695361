"""How a broken rule and a YAML value read in the messages of the spec models. Pure.

:func:`invalid` is the error every model and field validator raises (pydantic carries
its message to the loader, which adds file, line and field; :func:`empty_value_message` words
an empty parameter value, which needs its key); :func:`describe_value`
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


#: The kind of :func:`invalid` raised for an empty parameter value: its message is completed, with the
#: key, by :func:`empty_value_message`.
EMPTY_VALUE = "empty_value"


def empty_value_message(what: str, key: str) -> str:
    """Why a parameter cannot be empty and what to do instead (``what``: how its value reads)."""
    return (
        f"{what}, and SSM cannot store an empty value: leave {key} out of the set and give the compose "
        f"file a default, ${{{key}:-}} (empty) or ${{{key}:-value}}, or make it a variable of the hosts "
        "that need it (spec.hosts.<host>.variables in the Environment, which may be empty)"
    )


def quote_hint(value: object) -> str:
    """``"; quote it"`` for a number or boolean YAML read where a string was meant, else ``""``."""
    return "; quote it" if isinstance(value, int | float | bool) else ""
