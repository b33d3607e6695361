"""The fast text renderers equal the rich ones they replace (tests/richrender.py), byte for byte
without colour; without colour there is no ANSI escape. Compact JSON is the indented document."""

from __future__ import annotations

import json
import re

import pytest
import richrender
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner.build import desired_state, observed_state
from planschema import assert_valid
from test_plan_golden import golden_path, golden_plan
from test_render import DESIRED, OBSERVED

from reconciler.core.actions import Change, PutParameter
from reconciler.core.model import Sensitive
from reconciler.core.plan import PARAMETERS_UNIT, PRUNE_UNIT, Plan, Problem, Unchanged, Unit
from reconciler.core.report import ActionResult, ApplyReport
from reconciler.planner import plan
from reconciler.render import render_json, render_report, render_text
from reconciler.render.json import plan_document

#: Text as hostile as a message or a reason can be: control codes rich removes (BEL, BS, VT,
#: FF, CR), tabs, newlines, wide and combining characters, emoji; no ESC (checked separately).
TEXT = st.text(st.sampled_from(list("ab /~#:\t\n\r\x07\x08\x0b\x0c\x00é漢字\u0301😀[]")), max_size=12)
VALUES = st.one_of(TEXT, st.builds(Sensitive, TEXT), st.integers(-2, 2), st.booleans(), st.none())
RECORDS = st.one_of(st.none(), st.dictionaries(TEXT, st.one_of(VALUES, st.dictionaries(TEXT, VALUES, max_size=2)),
                                               max_size=3))


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    def action() -> PutParameter:
        return PutParameter(
            change=Change(draw(TEXT), draw(RECORDS), draw(RECORDS)), reason=draw(TEXT), name="/n", type="String",
            value="v", set_name="s", create=draw(st.booleans()), adopt=False, tags={},
        )

    units = [Unit(id=PARAMETERS_UNIT, actions=tuple(action() for _ in range(draw(st.integers(0, 3)))))]
    units.append(Unit(id="stack:h/s", host=draw(TEXT), stack=draw(TEXT), actions=(action(),)))
    units.append(Unit(id=PRUNE_UNIT, actions=(action(),)))
    return Plan(
        environment=draw(TEXT),
        units=tuple(units),
        problems=tuple(Problem(draw(TEXT), draw(TEXT)) for _ in range(draw(st.integers(0, 2)))),
        unchanged=tuple(Unchanged(draw(TEXT), draw(TEXT)) for _ in range(draw(st.integers(0, 2)))),
    )


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _scenarios() -> list[Plan]:
    desired = desired_state(DESIRED)
    return [golden_plan(), plan(desired, observed_state(OBSERVED, desired)), Plan(environment="dev")]


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("color", [False, True])
def test_same_text_as_rich_for_the_scenarios(color: bool, verbose: bool) -> None:
    for the_plan in _scenarios():
        assert render_text(the_plan, color=color, verbose=verbose) == richrender.render_text(the_plan, color, verbose)


def test_the_golden_text_is_what_rich_printed() -> None:
    expected = golden_path("txt").read_text(encoding="utf-8")
    assert richrender.render_text(golden_plan(), verbose=True) == expected
    assert render_text(golden_plan(), verbose=True) == expected


@SETTINGS
@given(plans(), st.booleans())
def test_same_text_as_rich_for_any_text(the_plan: Plan, verbose: bool) -> None:
    out = render_text(the_plan, color=False, verbose=verbose)
    assert out == richrender.render_text(the_plan, False, verbose)
    assert "\x1b" not in out


@SETTINGS
@given(plans(), st.booleans())
def test_same_colors_as_rich(the_plan: Plan, verbose: bool) -> None:
    out = render_text(the_plan, color=True, verbose=verbose)
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == render_text(the_plan, color=False, verbose=verbose)
    assert out == _merged(richrender.render_text(the_plan, True, verbose))


def _merged(styled: str) -> str:
    """rich closes and reopens a style at each tab it expands: the same on a terminal."""
    while True:
        merged = re.sub(r"(\x1b\[[0-9;]+m)([^\x1b]*)\x1b\[0m\1", r"\1\2", styled)
        if merged == styled:
            return styled
        styled = merged


REPORTS = st.builds(
    ApplyReport,
    st.lists(
        st.builds(
            ActionResult,
            st.sampled_from(["parameter:/a", "service:web-1/popcon/api", "image:web-2/popcon/x", "container:h/s/c",
                             "instance:i-1/leave"]),
            st.just("kind"),
            st.sampled_from(["done", "failed", "skipped"]),
            TEXT,
            gone=st.booleans(),
        ),
        max_size=5,
    ).map(tuple),
)


@SETTINGS
@given(REPORTS, st.booleans())
def test_same_report_as_rich(report: ApplyReport, color: bool) -> None:
    out = render_report(report, color=color)
    assert out == _merged(richrender.render_report(report, color))
    assert color or "\x1b" not in out


@pytest.mark.parametrize("the_plan", _scenarios(), ids=["golden", "render", "empty"])
def test_compact_json_is_the_same_document_on_one_line(the_plan: Plan) -> None:
    compact = render_json(the_plan, pretty=False)
    assert len(compact.splitlines()) == 1 and len(compact) < len(render_json(the_plan))
    assert json.loads(compact) == json.loads(render_json(the_plan)) == plan_document(the_plan)
    assert_valid(json.loads(compact))


def test_compact_json_of_the_golden_plan() -> None:
    golden = json.loads(golden_path("json").read_text(encoding="utf-8"))
    assert json.loads(render_json(golden_plan(), pretty=False)) == golden
