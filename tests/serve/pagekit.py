"""Status views for the page tests: a realistic one (the render tests' plan with secrets, a rollout in
progress, a failed revision, history) and the JSON schema of ``/api/status``. Test helper."""

from __future__ import annotations

import json
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from planner.build import desired_state, observed_state
from test_render import DESIRED, OBSERVED

from reconciler.core.events import ActionStarted, DeployStarted, Event, UnitStarted
from reconciler.core.progress import Progress, advance, idle
from reconciler.planner import plan
from reconciler.planner.rollout import rollout_unit_id
from reconciler.render.page import LoopView, StatusView, observation
from reconciler.state import (
    Condition,
    ConditionStatus,
    ConditionType,
    EnvironmentStatus,
    HistoryEntry,
    Result,
    Revision,
    Trigger,
)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "specs" / "status.schema.json"
GOOD = Revision("a" * 40, "Ann", "bump frontend to 1.5.0", 1_760_000_000.0)
BAD = Revision("b" * 40, "Bob", "frontend 9.9.9 (no such tag)", 1_760_000_100.0)


@cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def schema_errors(document: object) -> list[str]:
    found = sorted(validator().iter_errors(document), key=lambda e: repr(list(e.absolute_path)))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in found]


def rolling(now: float = 1_760_000_200.0) -> Progress:
    """A deploy in batch 2 of fleet web, its instance leaving the load balancer."""
    events: list[Event] = [
        DeployStarted("dev", GOOD.sha, GOOD.author, GOOD.message, "frontend image 1.4.0 -> 1.5.0"),
        UnitStarted(rollout_unit_id("web", "2/leave"), None, None, 1),
        ActionStarted("instance:i-0b/leave", "leave_target_groups", "leaving the load balancer and draining"),
    ]
    p = idle()
    for event in events:
        p = advance(p, event, now)
    return p


def status(environment: str = "dev", subject: str = BAD.message) -> EnvironmentStatus:
    bad = Revision(BAD.sha, BAD.author, subject, BAD.committed_at)
    conditions = (
        Condition(ConditionType.READY, ConditionStatus.FALSE, "RevisionFailed", f"revision {bad.sha[:12]} failed", 1.0),
        Condition(ConditionType.DEGRADED, ConditionStatus.TRUE, "ApplyFailed", "image tag 9.9.9 not found", 1.0),
    )
    return EnvironmentStatus(environment, conditions=conditions, last_applied=GOOD, last_attempted=bad,
                             last_error="image popcon/frontend:9.9.9 not found", failed_revisions=frozenset(
                                 {f"{bad.sha}@x"}), updated_at=2.0)  # fmt: skip


def entries(count: int, environment: str = "dev", subject: str = BAD.message) -> tuple[HistoryEntry, ...]:
    out = []
    for i in range(count):
        rev = GOOD if i % 2 else Revision(BAD.sha, BAD.author, subject, BAD.committed_at)
        out.append(HistoryEntry(environment=environment, revision=rev, started_at=1_760_000_000.0 + i,
                                finished_at=1_760_000_003.0 + i, trigger=Trigger.POLL, actor="loop@host",
                                result=Result.APPLIED if i % 2 else Result.FAILED,
                                actions={"recreate_service": 2} if i % 2 else {},
                                reason="frontend image 1.4.0 -> 1.5.0", error=None if i % 2 else "tag not found"))
    return tuple(sorted(out, key=lambda e: e.finished_at, reverse=True))  # fmt: skip


def view(*, environment: str = "dev", subject: str = BAD.message, history: int = 5,
         progress: Progress | None = None) -> StatusView:  # fmt: skip
    desired = desired_state(DESIRED)
    the_plan = plan(desired, observed_state(OBSERVED, desired))
    seen = observation(the_plan, desired, observed_state(OBSERVED, desired), planned_at=1_760_000_150.0,
                       revision=BAD.sha)  # fmt: skip
    loop = LoopView("https://x-access-token:***@github.com/acme/envs.git", "main", "environments/dev", "apply", 60.0,
                    7, True, True, "a tick is in progress")  # fmt: skip
    return StatusView(generated_at=1_760_000_300.0, loop=loop, progress=progress or rolling(),
                      status=status(environment, subject), history=entries(history, environment, subject),
                      observation=seen, lease_holder="loop@host pid 42",
                      repository_url="https://github.com/acme/envs")  # fmt: skip


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and its text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]

    def attributes(self) -> set[str]:
        return {name for _, attrs in self.tags for name in attrs}


def shape(page: str) -> list[tuple[str, tuple[str, ...]]]:
    """The page's tags and attribute names, in order (what markup a value could inject changes it)."""
    return [(tag, tuple(sorted(attrs))) for tag, attrs in Tags(page).tags]


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)
