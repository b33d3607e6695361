"""The comment body (reconciler.render.comment): any plan, any size -> a body under GitHub's
limit with every fence and ``<details>`` closed; the marker, the head commit, problems at the top,
the first changes kept and the rest counted; secrets masked."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_render_fast import TEXT, plans

from reconciler.core.actions import Change, PutParameter
from reconciler.core.model import Sensitive
from reconciler.core.plan import PARAMETERS_UNIT, Plan, Problem, Unchanged, Unit
from reconciler.render.comment import (
    LIMIT,
    CommentContext,
    failure_comment,
    marker,
    marker_key,
    plan_comment,
    size,
    unchanged_comment,
)
from reconciler.render.comment_removed import Removed, removed_comment

from .markdowncheck import problems

SECRET = "hunter2-SECRET-value"
BIG_TEXT = st.text(st.sampled_from(list("ab `~<>|\\\n\r\t&é😀-*#")), max_size=400)


def put(i: int, value: object = "v", reason: str = "new parameter") -> PutParameter:
    name = f"/app/dev/PARAM_{i:05d}"
    return PutParameter(change=Change(name, None, {"value": value, "type": "String"}), reason=reason, name=name,
                        type="String", value="v", set_name="s", create=True, adopt=False, tags={})  # fmt: skip


def big_plan(n: int, problems_: int = 0, value: object = "v") -> Plan:
    return Plan(
        environment="dev",
        units=(Unit(id=PARAMETERS_UNIT, actions=tuple(put(i, value) for i in range(n))),),
        problems=tuple(Problem(f"image:app{i}", f"tag {i} not found") for i in range(problems_)),
    )


@st.composite
def any_plans(draw: st.DrawFn) -> Plan:
    """Small plans with hostile text (test_render_fast), or many actions with long hostile values."""
    if draw(st.booleans()):
        return draw(plans())
    n = draw(st.integers(0, 400))
    value = draw(st.one_of(BIG_TEXT, st.builds(Sensitive, BIG_TEXT)))
    reason = draw(BIG_TEXT)
    actions = tuple(put(i, value, reason) for i in range(n))
    return Plan(
        environment=draw(TEXT),
        units=(Unit(id=PARAMETERS_UNIT, actions=actions),),
        problems=tuple(Problem(draw(TEXT), draw(BIG_TEXT)) for _ in range(draw(st.integers(0, 60)))),
        unchanged=tuple(Unchanged(f"parameter:/u/{i}", draw(TEXT)) for i in range(draw(st.integers(0, 300)))),
    )


#: the artifact is free text (--artifact-url): as long and hostile as it may be
CONTEXTS = st.builds(
    CommentContext,
    key=TEXT,
    head_sha=st.one_of(st.none(), TEXT),
    artifact=st.one_of(st.none(), TEXT, BIG_TEXT.map(lambda t: t * 5)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(any_plans(), CONTEXTS, st.one_of(st.just(LIMIT), st.integers(2_000, 20_000)))
def test_any_plan_any_size_is_a_valid_body_under_the_limit(plan: Plan, ctx: CommentContext, limit: int) -> None:
    body = plan_comment(plan, ctx, limit)
    assert size(body) <= limit
    assert problems(body) == []
    assert body.startswith(marker(ctx.key) + "\n")
    if plan.problems:
        assert "problem(s) block part of this plan" in body.split("\n#### Problems")[0]


@settings(max_examples=100, deadline=None)
@given(CONTEXTS, BIG_TEXT, st.integers(0, 3000), st.integers(2_000, 20_000))
def test_a_failure_comment_is_valid_and_under_the_limit(ctx: CommentContext, text: str, times: int, limit: int) -> None:
    body = failure_comment(ctx, text * times, limit)
    assert size(body) <= limit
    assert problems(body) == []


def test_ten_thousand_parameters_fit_keeping_the_summary_and_the_first_changes() -> None:
    plan = big_plan(10_000, problems_=3)
    ctx = CommentContext("environments/dev", head_sha="a" * 40, artifact="https://github.com/o/r/actions/runs/7")
    body = plan_comment(plan, ctx)
    assert size(body) <= LIMIT
    assert problems(body) == []
    first, *_ = body.split("#### Problems")
    assert "3 problem(s) block part of this plan" in first
    assert "10000 to add" in body or "10,000" in body
    assert "PARAM_00000" in body and "PARAM_09999" not in body
    last = body.rstrip("\n").splitlines()[-1]
    assert "Too long for one comment" in last and "of 10,000 changes shown" in last
    assert "https://github.com/o/r/actions/runs/7" in last
    assert "Head commit: " + "a" * 40 in body
    assert "<details><summary>10,000 change(s)</summary>" in body


def test_a_short_plan_is_whole_and_says_nothing_was_left_out() -> None:
    body = plan_comment(big_plan(3), CommentContext("environments/dev", head_sha="b" * 40))
    assert "Too long" not in body and "<details><summary>3 change(s)" not in body  # 3 rows: not collapsed
    assert body.count("| `+` |") == 3
    assert problems(body) == []


def test_secrets_are_masked() -> None:
    body = plan_comment(big_plan(2, value=Sensitive(SECRET)), CommentContext("environments/dev"))
    assert SECRET not in body and "(sensitive)" in body


def test_the_same_plan_at_the_same_commit_is_the_same_body() -> None:
    ctx = CommentContext("environments/dev", head_sha="c" * 40)
    assert plan_comment(big_plan(50), ctx) == plan_comment(big_plan(50), ctx)
    assert plan_comment(big_plan(50), ctx) != plan_comment(big_plan(50), CommentContext("environments/dev", "d" * 40))


def test_the_marker_cannot_end_the_html_comment_early() -> None:
    assert marker("env --> <b>") == "<!-- reconciler:plan env%20--%3E%20%3Cb%3E -->"


@settings(max_examples=50, deadline=None)
@given(CONTEXTS)
def test_the_retired_comment_is_valid(ctx: CommentContext) -> None:
    body = unchanged_comment(ctx)
    assert body.startswith(marker(ctx.key) + "\n") and problems(body) == [] and size(body) < 2_000


def test_a_long_hostile_artifact_text_keeps_the_body_under_the_limit() -> None:
    ctx = CommentContext("environments/dev", "a" * 40, artifact="<|>" * 5_000)
    body = plan_comment(big_plan(10_000), ctx)
    assert size(body) <= LIMIT and problems(body) == []


@settings(max_examples=50, deadline=None)
@given(CONTEXTS, st.builds(Removed, st.one_of(st.none(), st.booleans()), st.one_of(st.none(), TEXT)))
def test_the_removed_comment_is_valid_and_found_again_by_its_marker(ctx: CommentContext, removed: Removed) -> None:
    body = removed_comment(ctx, removed)
    assert body.startswith(marker(ctx.key) + "\n") and problems(body) == [] and size(body) < 5_000
    assert marker_key(body) == (ctx.key or None)
    assert ("Merging deletes nothing" in body) == (removed.at_base is not False)


@settings(max_examples=50, deadline=None)
@given(CONTEXTS)
def test_marker_key_reads_back_the_folder_of_our_bodies_only(ctx: CommentContext) -> None:
    for body in (unchanged_comment(ctx), failure_comment(ctx, "boom"), plan_comment(big_plan(3), ctx)):
        assert marker_key(body) == (ctx.key or None)
        assert marker_key(body.replace("\n", "\r\n")) == (ctx.key or None)  # as GitHub may store it
    assert marker_key("LGTM " + marker(ctx.key)) is None  # quoting a marker
    assert marker_key(marker(ctx.key) + "\nhand-written") is None  # a marker without our title
