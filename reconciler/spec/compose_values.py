"""The values a stack's compose files are interpolated with, as far as validate knows them. Pure.

Compose interpolates a stack's compose file with the keys of the stack's ParameterSets (the sets it
names, then its services' ``environmentFrom``), the variables of the host it runs on, what it
inherits from the reconciler's process (``PATH``, ``HOME``, the ``DOCKER_*`` settings) and
``COMPOSE_PROJECT_NAME``. :func:`host_values` gives them per host: a String parameter's literal
value and the host variables; ``None`` where the value is not known here (a SecureString, a value
from Secrets Manager, a StringList, the process's, the project name). :func:`path_values`
reduces them to what is the same on every host, which is what a path Compose reads while loading
the project (an ``include`` or ``extends`` file, an ``env_file``) may use
(:func:`~reconciler.spec.compose_variables.resolve_path`).
"""

from __future__ import annotations

from reconciler.core.model import COMPOSE_PROCESS_ENV, COMPOSE_SET_BY_COMPOSE
from reconciler.spec.checks import Declared
from reconciler.spec.documents import ENV_NAME_RE, ComposeStack, ComposeStackSection, ParameterSet, environment_hosts
from reconciler.spec.source import Loc


def stack_variables(found: Declared, stack: ComposeStack) -> dict[str, str]:
    """Environment variable name -> the first ParameterSet the stack takes it from."""
    variables: dict[str, str] = {}
    for set_name in usable_sets(found, stack):
        for key in variable_keys(found.parameter_sets[set_name]):
            variables.setdefault(key, set_name)
    return variables


def set_references(spec: ComposeStackSection) -> list[tuple[Loc, str]]:
    """The ParameterSets a stack names, where, in the order they feed it."""
    to_stack: list[tuple[Loc, str]] = [
        (("spec", "parameterSets", i), name) for i, name in enumerate(spec.parameter_sets)
    ]
    to_services: list[tuple[Loc, str]] = [
        (("spec", "services", service_name, "environmentFrom", i), name)
        for service_name, settings in spec.services.items()
        for i, name in enumerate(settings.environment_from)
    ]
    return to_stack + to_services


def usable_sets(found: Declared, stack: ComposeStack) -> list[str]:
    """The valid ParameterSets a stack names, in the order they feed it."""
    return [
        name
        for _, name in set_references(stack.spec)
        if ("ParameterSet", name) not in found.invalid and name in found.parameter_sets
    ]


def variable_keys(pset: ParameterSet) -> list[str]:
    return [key for key in pset.spec.parameters if ENV_NAME_RE.fullmatch(key)]


def host_values(found: Declared, stack: ComposeStack) -> dict[str, dict[str, str | None]]:
    """Host name -> what Compose interpolates with there; empty when the stack's sets or hosts are not
    all known (another check reports that)."""
    env = found.environment
    if env is None:
        return {}
    sets = [*stack.spec.parameter_sets, *(n for s in stack.spec.services.values() for n in s.environment_from)]
    if any(("ParameterSet", n) in found.invalid or n not in found.parameter_sets for n in sets):
        return {}
    known = environment_hosts(env)
    hosts = list(dict.fromkeys(stack.spec.hosts)) or (known if len(known) == 1 else [])
    if any(host not in known for host in hosts):
        return {}
    # the project name is not given to paths: stacks sharing a compose file read it once
    stack_values: dict[str, str | None] = dict.fromkeys(COMPOSE_SET_BY_COMPOSE)
    for key, set_name in stack_variables(found, stack).items():
        entry = found.parameter_sets[set_name].spec.parameters[key]
        literal = entry.type == "String" and isinstance(entry.value, str) and entry.from_secrets_manager is None
        stack_values[key] = entry.value if literal and isinstance(entry.value, str) else None
    process: dict[str, str | None] = dict.fromkeys(COMPOSE_PROCESS_ENV)  # wins in Compose's environment
    entries = env.spec.hosts or {}
    return {host: {**stack_values, **(entries[host].variables if host in entries else {}), **process} for host in hosts}


def path_values(found: Declared, stack: ComposeStack) -> dict[str, str | None]:
    """The values the stack has on every host it runs on: a name set on some hosts only, or with
    different values, is ``None`` (not known when validating)."""
    per_host = list(host_values(found, stack).values())
    if len(per_host) == 1:
        return per_host[0]
    names = dict.fromkeys(name for values in per_host for name in values)
    out: dict[str, str | None] = {}
    for name in names:
        seen = {values.get(name, "\0unset") for values in per_host}
        only = next(iter(seen)) if len(seen) == 1 else None
        out[name] = None if only == "\0unset" else only
    return out
