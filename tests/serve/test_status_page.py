"""The status page and its JSON, rendered (reconciler.render.page): the schema, escaping, no secret."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import SECRETS

from reconciler.core.progress import idle
from reconciler.render.page import STATUS_FORMAT_VERSION, github_url, render_page, status_document
from reconciler.render.page.view import StatusView
from serve.pagekit import BAD, GOOD, SCHEMA_PATH, Tags, document_text, entries, schema_errors, shape, view

HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)">&amp;"\''


def test_the_document_matches_its_schema_full_and_empty() -> None:
    full = status_document(view())
    assert schema_errors(full) == []
    assert full["format_version"] == STATUS_FORMAT_VERSION
    env = full["environments"][0]
    assert env["sync"] == "Degraded"
    assert env["last_applied"]["url"] == f"https://github.com/acme/envs/commit/{GOOD.sha}"
    assert env["failed_revisions"] == [BAD.sha]
    assert env["progress"]["rollout"] == {
        "fleet": "web", "batch": 2, "phase": "leave", "step": "leaving the load balancer and draining",
        "instances": ["i-0b"], "started_at": "2025-10-09T08:56:40Z", "step_started_at": "2025-10-09T08:56:40Z",
        "batches_done": 0, "failed": None,
    }  # fmt: skip
    assert {s["stack"] for s in env["stacks"]} and all(isinstance(s["matches"], bool) for s in env["stacks"])
    assert env["plan"]["summary"].startswith("Plan:")
    empty = status_document(StatusView(generated_at=0.0, loop=view().loop, progress=idle()))
    assert empty["environments"] == [] and schema_errors(empty) == []


def test_the_schema_refuses_what_the_format_does_not_say() -> None:
    good = status_document(view())
    for spoil in (
        lambda d: d.update(extra=1),
        lambda d: d["environments"][0].pop("history"),
        lambda d: d["environments"][0]["progress"].update(phase="sleeping"),
        lambda d: d["environments"][0]["history"][0].update(result="fine"),
        lambda d: d["environments"][0]["stacks"][0]["services"][0].update(status="green"),
        lambda d: d.update(generated_at="yesterday"),
    ):
        bad = copy.deepcopy(good)
        spoil(bad)
        assert schema_errors(bad), bad


def test_the_page_shows_each_part_with_its_heading() -> None:
    page = render_page(status_document(view()))
    tags = Tags(page)
    text = " ".join(tags.text)
    for heading in ("Reconciler status", "Environment dev", "Conditions", "Revisions", "In progress",
                    "Rollout in progress", "Hosts and stacks", "Last plan", "History"):  # fmt: skip
        assert heading in text, heading
    for label in ("Applied", "Attempted", "Failed revisions", "Phase", "Fleet", "Batch", "Instances", "Step"):
        assert f"<dt>{label}</dt>" in page, label
    assert ('meta', {'http-equiv': 'refresh', 'content': '5'}) in tags.tags
    assert "script" not in tags.names()  # no JavaScript at all
    assert f'href="https://github.com/acme/envs/commit/{BAD.sha}"' in page
    assert "frontend 9.9.9 (no such tag)" in text and "RevisionFailed" in text and "i-0b" in text


def test_hostile_names_and_subjects_are_escaped_everywhere() -> None:
    benign = render_page(status_document(view(environment="dev", subject="fix")))
    hostile = render_page(status_document(view(environment=f"dev{HOSTILE}", subject=HOSTILE)))
    assert shape(hostile) == shape(benign)  # no element, no attribute added
    tags = Tags(hostile)
    assert "script" not in tags.names() and "onerror" not in tags.attributes()
    assert HOSTILE in "".join(tags.text)  # shown as text, as written
    assert "&lt;script&gt;" in hostile and "<script>" not in hostile


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_subject_leaves_the_markup_alone(subject: str) -> None:
    base = shape(render_page(status_document(view(subject="fix", history=2))))
    assert shape(render_page(status_document(view(subject=subject, history=2)))) == base


def test_no_secret_value_reaches_the_page_or_the_json() -> None:
    document = status_document(view())
    page = render_page(document)
    for secret in SECRETS:
        assert secret not in page and secret not in document_text(document)
    assert "x-access-token:***@" in page  # the repository's credentials stay masked


def test_a_thousand_entries_render_and_stay_in_order() -> None:
    v = view(history=1000)
    page = render_page(status_document(v))
    assert page.count('<tr class="result-') == 1000
    assert v.history == entries(1000)


def test_every_field_of_the_schema_has_a_description() -> None:
    def walk(node: object, where: str) -> list[str]:
        found: list[str] = []
        if isinstance(node, dict):
            found += [f"{where}.{n}" for n, sub in (node.get("properties") or {}).items() if not sub.get("description")]
            for key, value in node.items():
                found += walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += walk(value, f"{where}/{i}")
        return found

    assert walk(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), "#") == []


def test_commit_links_only_for_repositories_on_github() -> None:
    for url in ("https://github.com/acme/envs.git", "https://x-access-token:***@github.com/acme/envs",
                "git@github.com:acme/envs.git", "ssh://git@github.com/acme/envs.git"):  # fmt: skip
        assert github_url(url) == "https://github.com/acme/envs", url
    for url in ("https://gitlab.com/acme/envs.git", "/srv/gitops/remote.git", "file:///srv/envs",
                "https://github.com/acme", "https://github.com/acme/envs/extra", "https://github.com/a/b\"onclick=x",
                "https://github.com.evil.example/acme/envs"):  # fmt: skip
        assert github_url(url) is None, url
