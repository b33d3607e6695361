"""Word pydantic's validation errors of a spec document as issues with file, line and field. Pure.

pydantic reports an error as a type code, a location and the input; the user reads
``params.yaml:12: spec.parameters.DB_HOST.tpye: unknown field; did you mean 'type'?``.
:func:`validation_issues` turns each error into a :class:`~reconciler.core.errors.SpecIssue`
(once per field and message), naming the fields a mapping accepts when a key is unknown and
describing the value YAML read when a type is wrong.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.core.errors import SpecIssue
from reconciler.spec.documents import EMPTY_VALUE, describe_value, empty_value_message, quote_hint
from reconciler.spec.source import SourceDoc


def validation_issues(doc: SourceDoc, model: type[BaseModel], error: ValidationError) -> list[SpecIssue]:
    """The issues of ``error`` (raised validating ``doc`` as ``model``), each field and message once."""
    located = [(tuple(p for p in err["loc"] if p != "[key]"), err) for err in error.errors()]
    worded = [(loc, _message(model, loc, err)) for loc, err in located]
    return [doc.issue(loc, message) for loc, message in dict.fromkeys(worded)]


def _message(root: type[BaseModel], loc: tuple[Hashable, ...], error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(_fields_at(root, loc[:-1]), str(loc[-1]))
    if kind == "string_type":
        return f"expected a string, got {describe_value(value)}{quote_hint(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {describe_value(value)}"
    if kind in ("int_type", "float_type"):
        return f"expected a number, got {describe_value(value)}"
    if kind == "list_type":
        return f"expected a list, got {describe_value(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {describe_value(value)}"
    if kind == EMPTY_VALUE and loc:
        return empty_value_message(str(error["msg"]), str(loc[-1]))
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be {expected}; got {value!r}"
    return str(error["msg"])


def _unknown_field(allowed: list[str], name: str) -> str:
    """The message for an unknown key ``name`` where the fields ``allowed`` are accepted."""
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {a.lower(): a for a in allowed}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    text = "unknown field"
    if close:
        text += f"; did you mean '{close[0]}'?"
    if allowed:
        text += f" (allowed: {', '.join(allowed)})"
    return text


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(args) == 1:
                tp = args[0]
            elif models:
                tp = models[0]
            else:
                return tp
        else:
            return tp


def _fields_at(root: type[BaseModel], loc: Sequence[Hashable]) -> list[str]:
    """The field names (aliases) the model at ``loc`` accepts; [] when ``loc`` is not a model."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            match = [f for n, f in tp.model_fields.items() if (f.alias or n) == part or n == part]
            if not match:
                return []
            tp = match[0].annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []
