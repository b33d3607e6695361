"""Where a compose variable's value comes from in Kubernetes, and compose strings rewritten to it. Pure.

A stack's ``${VAR}`` is a key of one of its ParameterSets (a ConfigMap key, or for a
secret a key of the Secret its ExternalSecret writes) or a host variable (a plain value).
:func:`stack_variables` says which, in the order the reconciler reads them (the stack's
sets, then the services' ``environmentFrom`` sets, then the host's variables).
:func:`substitute` rewrites a compose string: in an environment value a ConfigMap or Secret
key becomes Kubernetes' dependent variable ``$(VAR)`` (the container gets ``VAR`` itself
from the ConfigMap or Secret, listed first), a plain value is written in; anywhere else only
plain values can be, and a secret never is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.core.model import DesiredState, Sensitive, StackSpec
from reconciler.export.names import secret_name, slug

__all__ = ["ValueSource", "stack_sets", "stack_variables", "substitute"]

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


@dataclass(frozen=True)
class ValueSource:
    kind: Literal["config", "secret", "plain"]
    name: str = ""  # the ConfigMap or Secret
    key: str = ""
    value: str = ""  # plain


def stack_sets(stack: StackSpec) -> list[str]:
    """The sets feeding a stack: its parameterSets, then every service's environmentFrom."""
    names = list(stack.parameter_sets)
    names += [n for service in stack.services for n in service.environment_from]
    return list(dict.fromkeys(names))


def set_source(desired: DesiredState, set_name: str, key: str) -> ValueSource | None:
    for spec in desired.set_parameters(set_name):
        if spec.key != key:
            continue
        if spec.type == "SecureString" or isinstance(spec.value, Sensitive) or spec.value is None:
            return ValueSource("secret", secret_name(set_name), key)
        return ValueSource("config", slug(set_name), key)
    return None


def stack_variables(desired: DesiredState, stack: StackSpec, host: str) -> dict[str, ValueSource]:
    """Variable name -> where its value comes from, for ``stack`` on ``host``."""
    found: dict[str, ValueSource] = {}
    for set_name in stack_sets(stack):
        for spec in desired.set_parameters(set_name):
            if spec.key not in found:
                source = set_source(desired, set_name, spec.key)
                if source is not None:
                    found[spec.key] = source
    spec_host = desired.host(host)
    if spec_host is not None:
        for name, value in spec_host.variables.items():
            found.setdefault(name, ValueSource("plain", value=value))
    return found


Resolve = Callable[[str], str | None]  # a variable's text in the output (None: not available)


def _literal(text: str, in_env: bool) -> str:
    return text.replace("$(", "$$(") if in_env else text


def substitute(
    text: str, variables: Mapping[str, ValueSource], *, in_env: bool, refs: set[str] | None = None
) -> tuple[str, list[str]]:
    """``text`` with its compose references rewritten, and the problems (a variable that cannot be
    written there: a secret outside the environment, an unset required one). The variables
    written as ``$(VAR)`` are added to ``refs``."""
    problems: list[str] = []

    def resolve(name: str) -> str | None:
        source = variables.get(name)
        if source is None:
            return None
        if source.kind == "plain":
            return _literal(source.value, in_env)
        if in_env:
            if refs is not None:
                refs.add(name)
            return f"$({name})"
        what = "a secret" if source.kind == "secret" else f"ConfigMap {source.name}"
        problems.append(f"${{{name}}} comes from {what} and can only be used in an environment value here")
        return ""

    out, _ = _scan(text, 0, resolve, problems, in_env, nested=False)
    return out, problems


def _scan(
    text: str, i: int, resolve: Resolve, problems: list[str], in_env: bool, *, nested: bool
) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if nested and c == "}":
            return "".join(out), i
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$$" if in_env and text[i + 2 : i + 3] == "(" else "$")
            i += 2
        elif nxt == "{":
            piece, i = _braced(text, i + 2, resolve, problems, in_env)
            out.append(piece)
        elif (m := _NAME.match(text, i + 1)) is not None:
            out.append(resolve(m.group()) or "")
            i = m.end()
        else:
            out.append("$$" if in_env and nxt == "(" else "$")
            i += 1
    return "".join(out), i


def _braced(text: str, i: int, resolve: Resolve, problems: list[str], in_env: bool) -> tuple[str, int]:
    m = _NAME.match(text, i)
    if m is None:
        problems.append(f"cannot read the interpolation in {text!r}")
        return "", len(text)
    name, i = m.group(), m.end()
    form = next((f for f in (":-", ":?", ":+", "-", "?", "+") if text.startswith(f, i)), "")
    i += len(form)
    rest = ""
    if form:
        rest, i = _scan(text, i, resolve, problems, in_env, nested=True)
    i += 1  # the closing brace
    value = resolve(name)
    if form in ("", ":?", "?"):
        if value is None and form:
            problems.append(f"${{{name}}} is required ({rest or 'not set'}) and nothing gives it")
        return value or "", i
    if form in (":-", "-"):
        return (value if value is not None else rest), i
    return (rest if value is not None else ""), i
