"""Plans and revisions for the loop's pure tests (no I/O): a plan that puts named parameters."""

from __future__ import annotations

from reconciler.core.actions import Change, PutParameter
from reconciler.core.plan import Plan, Problem, Unit
from reconciler.state import Revision

A = Revision("a" * 40, "Dev <dev@example.com>", "first", 1.0)
B = Revision("b" * 40, "Dev <dev@example.com>", "second", 2.0)


def plan(*names: str, problems: tuple[str, ...] = ()) -> Plan:
    """A plan of environment dev that creates the parameters ``names`` (one unit), with ``problems``."""
    actions = tuple(
        PutParameter(change=Change(f"parameter:{n}", None, {"value": "v"}), reason="not found", name=n, type="String",
                     value="v", set_name="cfg", create=True, adopt=False, tags={})
        for n in names
    )  # fmt: skip
    units = (Unit(id="parameters", actions=actions),) if actions else ()
    return Plan(environment="dev", units=units, problems=tuple(Problem(p, "image not found") for p in problems))
