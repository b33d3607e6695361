"""The planner's SSM part: PutParameter / DeleteParameter decisions. Pure.

Compares every declared parameter with what SSM holds (observed), decides
create / update / adopt, and prunes owned, undeclared parameters under paths
with ``prune: true``. Also says which parameters' tags the observer must read
(:func:`ownership_queries`) so a no-change reconcile reads no tags at all.
Nothing here does I/O; secret values stay :class:`Sensitive` inside changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reconciler.core.actions import Action, Change, DeleteParameter, PutParameter
from reconciler.core.model import (
    ENVIRONMENT_KEY,
    OWNER_KEY,
    DesiredState,
    ParameterPath,
    ParameterSpec,
    ParamType,
    Sensitive,
    Value,
    path_is_under,
)
from reconciler.core.observed import ObservedParameter, ObservedState
from reconciler.core.plan import Problem, Unchanged
from reconciler.planner.common import ParameterIndex, parameter_address, same_value, secret
from reconciler.planner.secretsmanager import plan_secret


@dataclass(frozen=True)
class ParameterPlan:
    puts: tuple[Action, ...] = ()
    deletes: tuple[Action, ...] = ()
    unchanged: tuple[Unchanged, ...] = ()
    problems: tuple[Problem, ...] = ()
    # declared names whose value cannot be provided to a stack (missing external, no value)
    unavailable: frozenset[str] = frozenset()


def normalise_string_list(value: str) -> str:
    """``"a, b ,c"`` -> ``"a,b,c"``: StringList items compare without surrounding blanks."""
    return ",".join(item.strip() for item in value.split(","))


def _prefix(path: str) -> str:
    return path.rstrip("/") + "/"


def _is_sensitive(spec_type: ParamType, observed: ObservedParameter | None, value: Value | None) -> bool:
    return (
        spec_type == "SecureString"
        or isinstance(value, Sensitive)
        or (
            observed is not None
            and (observed.type == "SecureString" or isinstance(observed.value, Sensitive))
        )
    )


def _view(type_: ParamType, value: Value, sensitive: bool) -> dict[str, object]:
    return {"type": type_, "value": secret(value) if sensitive else value}


def _differences(spec: ParameterSpec, value: Value, observed: ObservedParameter) -> list[str]:
    """What differs between the declared and the stored parameter, as reason fragments."""
    found: list[str] = []
    if spec.type != observed.type:
        found.append(f"type changed: {observed.type} -> {spec.type}")
    if spec.type == "StringList" and observed.type == "StringList":
        old = observed.value if isinstance(observed.value, str) else None
        new = value if isinstance(value, str) else None
        if old is not None and new is not None:
            if normalise_string_list(old) != normalise_string_list(new):
                old_items = normalise_string_list(old).split(",")
                new_items = normalise_string_list(new).split(",")
                added = [i for i in new_items if i not in old_items]
                removed = [i for i in old_items if i not in new_items]
                detail = "; ".join(
                    part
                    for part in (
                        f"added {', '.join(added)}" if added else "",
                        f"removed {', '.join(removed)}" if removed else "",
                    )
                    if part
                )
                found.append(f"items changed: {detail}" if detail else "items reordered")
            return found
    if not same_value(value, observed.value):
        found.append("value changed")
    return found


def _undeclared(
    desired: DesiredState, observed: ObservedState, index: ParameterIndex
) -> Iterator[tuple[ObservedParameter, ParameterPath | None, ParameterPath]]:
    """Observed parameters under some declared path that no set declares, by name.

    Yields (parameter, the most specific path covering it when that path has
    ``prune: true`` else None, the most specific path covering it).
    """
    paths = sorted(desired.parameter_paths, key=lambda p: (-len(_prefix(p.path)), p.path, p.set_name))
    for name in sorted(observed.parameters):
        if name in index.by_name:
            continue
        covering = [p for p in paths if name != p.path and path_is_under(name, p.path)]
        if not covering:
            continue
        # the most specific path decides: a nested set without prune shields its path
        nearest = covering[0]
        yield observed.parameters[name], nearest if nearest.prune else None, nearest


def _plan_external(spec: ParameterSpec, observed: ObservedParameter | None) -> Unchanged | Problem:
    """A Problem (the parameter cannot be provided) when it does not exist, else Unchanged."""
    address = parameter_address(spec.name)
    if observed is None:
        where = f" (declared at {spec.source})" if spec.source else ""
        return Problem(
            address,
            f"external SecureString {spec.name} does not exist; create it out of band{where}",
        )
    note = "" if observed.type == "SecureString" else f" (stored as {observed.type})"
    return Unchanged(address, f"external parameter exists{note}; never written")


def _put(
    spec: ParameterSpec,
    value: Value,
    tags: Mapping[str, str],
    change: Change,
    reason: str,
    *,
    create: bool,
    adopt: bool,
) -> PutParameter:
    return PutParameter(
        change=change,
        reason=reason,
        name=spec.name,
        type=spec.type,
        value=value,
        set_name=spec.set_name,
        create=create,
        adopt=adopt,
        tags=tags,
    )


def _plan_managed(
    spec: ParameterSpec, observed: ObservedParameter | None, desired: DesiredState
) -> PutParameter | Unchanged | Problem:
    """A PutParameter (create, update, adopt), Unchanged, or a Problem (no value to write: the
    parameter cannot be provided)."""
    owner = desired.owner
    tags = {OWNER_KEY: owner, ENVIRONMENT_KEY: desired.environment}
    address = parameter_address(spec.name)
    value = spec.value
    if value is None:
        where = f" (declared at {spec.source})" if spec.source else ""
        return Problem(address, f"parameter {spec.name} has no value to write{where}")
    sensitive = _is_sensitive(spec.type, observed, value)
    if spec.type == "SecureString":
        value = secret(value)
    if observed is None:
        change = Change(address, None, _view(spec.type, value, sensitive))
        return _put(spec, value, tags, change, "not found", create=True, adopt=False)
    differences = _differences(spec, value, observed)
    if not differences:
        return Unchanged(address, "value and type match")
    before = _view(observed.type, observed.value, sensitive)
    after = _view(spec.type, value, sensitive)
    adopt = observed.tags is not None and observed.tags.get(OWNER_KEY) != owner
    if adopt:
        previous = observed.tags.get(OWNER_KEY) if observed.tags is not None else None
        before["owner"] = previous
        after["owner"] = owner
        differences.append(f"adopting (owner tag {previous!r})" if previous else "adopting (no owner tag)")
    return _put(spec, value, tags, Change(address, before, after), "; ".join(differences), create=False, adopt=adopt)


def plan_parameters(desired: DesiredState, observed: ObservedState, index: ParameterIndex) -> ParameterPlan:
    """Puts (by name), deletes (by name), unchanged and problems for all parameters. Pure."""
    puts: list[Action] = []
    deletes: list[Action] = []
    unchanged: list[Unchanged] = []
    problems: list[Problem] = []
    unavailable: set[str] = set()
    for name in sorted(index.by_name):
        spec = index.by_name[name]
        current = observed.parameters.get(name)
        decision: PutParameter | Unchanged | Problem
        if spec.secret is not None:
            decision = plan_secret(spec, observed.secrets)
        elif spec.managed:
            decision = _plan_managed(spec, current, desired)
        else:
            decision = _plan_external(spec, current)
        if isinstance(decision, Problem):
            problems.append(decision)
            unavailable.add(spec.name)
        elif isinstance(decision, Unchanged):
            unchanged.append(decision)
        else:
            puts.append(decision)
    for param, prune, path in _undeclared(desired, observed, index):
        address = parameter_address(param.name)
        if prune is None:
            unchanged.append(Unchanged(address, f"not in the spec; prune is off for set {path.set_name}"))
        elif param.tags is None:
            unchanged.append(Unchanged(address, "not in the spec; ownership unknown, left alone"))
        elif param.tags.get(OWNER_KEY) != desired.owner:
            unchanged.append(Unchanged(address, f"not in the spec; not owned by {desired.owner}; left alone"))
        else:
            sensitive = _is_sensitive(param.type, param, param.value)
            deletes.append(
                DeleteParameter(
                    change=Change(address, _view(param.type, param.value, sensitive), None),
                    reason=f"not in the spec; owned by {desired.owner}, pruned (set {prune.set_name})",
                    name=param.name,
                    set_name=prune.set_name,
                    owner=desired.owner,
                )
            )
    return ParameterPlan(
        puts=tuple(puts),
        deletes=tuple(deletes),
        unchanged=tuple(unchanged),
        problems=tuple(problems),
        unavailable=frozenset(unavailable),
    )


def ownership_queries(desired: DesiredState, observed: ObservedState) -> frozenset[str]:
    """Names whose tags the observer must read before planning. Pure.

    Tags decide two things only: whether an undeclared parameter under a
    ``prune: true`` path may be deleted, and whether a parameter we are about
    to overwrite must be adopted. So these are the prune candidates plus the
    declared managed parameters that exist with another value or type. Names
    whose tags were already read (``tags is not None``) are left out, so a
    second call after the tag read returns an empty set.
    """
    index = ParameterIndex.build(desired)
    names: set[str] = set()
    for name, spec in index.by_name.items():
        current = observed.parameters.get(name)
        if not spec.managed or spec.value is None or current is None or current.tags is not None:
            continue
        value = secret(spec.value) if spec.type == "SecureString" else spec.value
        if _differences(spec, value, current):
            names.add(name)
    for param, prune, _path in _undeclared(desired, observed, index):
        if prune is not None and param.tags is None:
            names.add(param.name)
    return frozenset(names)
