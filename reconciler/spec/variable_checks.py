"""Check that every variable a stack's compose file needs is set on each host it runs on. Pure apart from reading files.

Compose interpolates a stack's compose file with the keys of the stack's ParameterSets, the
variables of the host, what it inherits from the reconciler's process (``PATH``, ``HOME``, the
``DOCKER_*`` settings) and ``COMPOSE_PROJECT_NAME``, nothing else: the ``.env`` beside the
compose file is never read (secrets must not live in git). Where a reference needs its variable
(:mod:`reconciler.spec.interpolation`: a plain ``${VAR}``, which Compose would silently replace
with an empty string, or the required ``${VAR?err}`` / ``${VAR:?err}``, which Compose refuses)
and the variable is not set there, :func:`unset_variable_issues` reports it at the compose
file's line, naming where it could come from, and says so when the ``.env`` would have set it
(only the names of that file are read, never a value). Stacks whose sets, hosts or compose file
are in doubt are left to the checks that report those.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import SpecIssue
from reconciler.core.model import COMPOSE_PROCESS_ENV
from reconciler.spec.checks import Declared
from reconciler.spec.compose_model import ComposeModel, VariableUse
from reconciler.spec.compose_values import host_values
from reconciler.spec.documents import ComposeStack
from reconciler.spec.source import MAX_FILE_BYTES
from reconciler.spec.stack_checks import ComposeKey, ComposeRead, stack_compose_models

#: Host name -> variable name -> its value there (None: set, value not known here, never empty).
HostValues = Mapping[str, Mapping[str, str | None]]

_DOTENV_NAME_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]", re.MULTILINE)


def unset_variable_issues(found: Declared, composed: Mapping[ComposeKey, ComposeRead]) -> list[SpecIssue]:
    """Each reference of a stack's compose file whose variable is unset (or, for ``${VAR:?err}``,
    empty) on a host the stack runs on, once per line and stack."""
    if found.environment is None or found.incomplete:
        return []  # the hosts or a set may be in what could not be read
    models = stack_compose_models(found, composed)
    issues: list[SpecIssue] = []
    for stack_name, stack in found.stacks.items():
        values = host_values(found, stack)
        if stack_name in models and values:
            issues += _stack_issues(stack_name, stack, models[stack_name], values)
    return issues


def _stack_issues(stack_name: str, stack: ComposeStack, model: ComposeModel, values: HostValues) -> list[SpecIssue]:
    dotenv = dotenv_names(model.path.parent / ".env")
    known = sorted({name for host in values.values() for name in host} - set(COMPOSE_PROCESS_ENV))
    issues: list[SpecIssue] = []
    for use in model.uses:
        given: dict[str, str | None] = dict(use.env)  # an included file's env files (the stack's values win)
        problems = {host: _problem(use, {**given, **at} if given else at) for host, at in values.items()}
        for problem in dict.fromkeys(p for p in problems.values() if p):
            hosts = [host for host, p in problems.items() if p == problem]
            partial = len(hosts) < len(values)
            set_on = [host for host, p in problems.items() if p is None] if partial else []
            context = _Context(stack_name, stack.spec.parameter_sets, hosts if partial else [], set_on)
            beside = dotenv if not use.file else frozenset()  # the .env beside the compose file itself
            message = _message(use, problem, context, beside, known)
            issues.append(SpecIssue(use.file or model.display, use.line, use.field, message))
    return issues


def _problem(use: VariableUse, values: Mapping[str, str | None]) -> str | None:
    """``unset``, ``empty`` (for ``${VAR:?err}``) or None: what Compose would make of ``use``."""
    reference = use.reference
    if reference.need == "nothing":
        return None
    if reference.name not in values:
        return "unset"
    return "empty" if reference.need == "value" and values[reference.name] == "" else None


@dataclass(frozen=True)
class _Context:
    stack: str
    sets: Sequence[str]  # the stack's parameterSets
    hosts: Sequence[str]  # the hosts the problem is on when not all of the stack's
    set_on: Sequence[str]  # then, the hosts where the variable is set

    @property
    def where(self) -> str:
        return f" on host{'s' if len(self.hosts) > 1 else ''} {', '.join(self.hosts)}" if self.hosts else ""

    @property
    def host_variables(self) -> str:
        host = self.hosts[0] if len(self.hosts) == 1 else "<host>"
        return f"spec.hosts.{host}.variables in the Environment"


def _message(use: VariableUse, problem: str, context: _Context, dotenv: frozenset[str], known: Sequence[str]) -> str:
    reference = use.reference
    name = reference.name
    written = f"${{{name}{reference.form}{reference.error}}}"
    if problem == "empty":
        return (
            f"required variable {name} is empty{context.where} ({written}): give it a value ({context.host_variables})"
        )
    head = f"required variable {name} ({written})" if reference.required else f"variable {name}"
    default = "" if reference.required else f", or give a default ${{{name}:-...}}"
    if name in dotenv:
        return (
            f"{head} is set only in .env beside the compose file, which the reconciler does not read: "
            f"move it to a ParameterSet of stack '{context.stack}' (SecureString for a secret) or a host "
            f"variable{default}"
        )
    close = difflib.get_close_matches(name, [k for k in known if k != name], n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]}?)" if close else ""
    if context.set_on:
        hint = f" (it is on {', '.join(context.set_on)})"
    outcome = "Compose refuses the file" if reference.required else "Compose would substitute an empty string"
    listed = f" ({', '.join(context.sets)})" if context.sets else " (it lists none yet: spec.parameterSets)"
    return (
        f"{head} is not set{context.where}{hint}, and {outcome}: define it in a ParameterSet of stack "
        f"'{context.stack}'{listed} or as a host variable ({context.host_variables}){default}"
    )


def dotenv_names(path: Path) -> frozenset[str]:
    """The variable names a ``.env`` file sets (never its values); empty when there is none."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return frozenset()
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return frozenset(_DOTENV_NAME_RE.findall(text))
