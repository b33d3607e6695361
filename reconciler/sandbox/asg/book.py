"""What the sandbox's Auto Scaling knows that moto does not: lifecycle actions, launch versions, replacements. Pure.

A :class:`Book` holds, per instance the front saw launched, the launch
template version it was launched with and when it came into service; the
lifecycle actions in progress (an instance is ``Pending:Wait`` while it has
one: one per launch hook of its group, each with its token, its heartbeat
deadline and the hook's global limit); and the instances marked
``Unhealthy`` with the time their group replaces them. Every function returns
a new book. :func:`encode` and :func:`decode` are its JSON form (the front
keeps it in a file, so a restarted front goes on where it was).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

CONTINUE, ABANDON = "CONTINUE", "ABANDON"
RESULTS = (CONTINUE, ABANDON)
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
GLOBAL_TIMEOUT = 172800.0  # 48 h, or 100 x the heartbeat timeout, whichever is smaller (AWS's limit)


@dataclass(frozen=True)
class LifecycleAction:
    """One launch hook holding one instance in ``Pending:Wait``."""

    token: str
    instance_id: str
    group: str
    hook: str
    default_result: str  # what happens at the deadline
    heartbeat_timeout: float
    deadline: float  # epoch seconds: the default result applies then
    limit: float  # epoch seconds: no heartbeat extends the wait beyond this

    def matches(self, group: str, hook: str, token: str, instance_id: str) -> bool:
        if self.group != group or self.hook != hook:
            return False
        return self.token == token if token else self.instance_id == instance_id


@dataclass(frozen=True)
class Book:
    versions: Mapping[str, str] = field(default_factory=dict)  # instance -> launch template version
    in_service: Mapping[str, float] = field(default_factory=dict)  # instance -> epoch seconds it went InService
    actions: tuple[LifecycleAction, ...] = ()
    replacing: Mapping[str, float] = field(default_factory=dict)  # Unhealthy instance -> epoch seconds
    regions: Mapping[str, str] = field(default_factory=dict)  # instance -> its region (waiting or replaced)

    def waiting(self) -> frozenset[str]:
        """The instances in ``Pending:Wait``."""
        return frozenset(a.instance_id for a in self.actions)

    def find(self, group: str, hook: str, token: str, instance_id: str) -> LifecycleAction | None:
        return next((a for a in self.actions if a.matches(group, hook, token, instance_id)), None)

    def next_due(self) -> float | None:
        """When the next deadline or replacement falls (None: nothing pending)."""
        times = [a.deadline for a in self.actions] + list(self.replacing.values())
        return min(times) if times else None


def launched(book: Book, group: str, instances: Iterable[str], version: str,
             hooks: Iterable[tuple[str, float, str]], tokens: Iterable[str], now: float,
             region: str) -> Book:  # fmt: skip
    """Instances ``group`` just launched on ``version`` ("": unknown): each waits for every launch hook
    ``(name, heartbeat timeout, default result)`` (a token each, from ``tokens``), or is in service now."""
    ids, hooks, token = list(instances), list(hooks), iter(tokens)
    versions = {**book.versions, **dict.fromkeys(ids, version)} if version else dict(book.versions)
    actions = list(book.actions)
    in_service = dict(book.in_service)
    for instance_id in ids:
        if not hooks:
            in_service[instance_id] = now
        for name, timeout, result in hooks:
            limit = now + min(GLOBAL_TIMEOUT, 100 * timeout)
            deadline = now + timeout
            actions.append(LifecycleAction(next(token), instance_id, group, name, result, timeout, deadline, limit))
    regions = {**book.regions, **dict.fromkeys(ids, region)} if hooks else dict(book.regions)
    return replace(book, versions=versions, in_service=in_service, actions=tuple(actions), regions=regions)


def forget(book: Book, instances: Iterable[str]) -> Book:
    """Instances that left their group (terminated, detached): nothing more to say of them."""
    gone = set(instances)
    if not gone:
        return book
    return Book(
        {i: v for i, v in book.versions.items() if i not in gone},
        {i: t for i, t in book.in_service.items() if i not in gone},
        tuple(a for a in book.actions if a.instance_id not in gone),
        {i: t for i, t in book.replacing.items() if i not in gone},
        {i: r for i, r in book.regions.items() if i not in gone},
    )


def completed(book: Book, action: LifecycleAction, now: float) -> Book:
    """The action is done; the instance is in service when it was its last one."""
    actions = tuple(a for a in book.actions if a != action)
    in_service = dict(book.in_service)
    if not any(a.instance_id == action.instance_id for a in actions):
        in_service[action.instance_id] = now
    return replace(book, actions=actions, in_service=in_service)


def heartbeat(book: Book, action: LifecycleAction, now: float) -> Book:
    """The wait starts again (never past the hook's global limit)."""
    extended = replace(action, deadline=min(now + action.heartbeat_timeout, action.limit))
    return replace(book, actions=tuple(extended if a == action else a for a in book.actions))


def unhealthy(book: Book, instance_id: str, at: float | None, region: str) -> Book:
    """Marked Unhealthy: replaced at ``at`` (None: marked Healthy again, not replaced)."""
    replacing = {i: t for i, t in book.replacing.items() if i != instance_id}
    if at is not None:
        replacing[instance_id] = at
    return replace(book, replacing=replacing, regions={**book.regions, instance_id: region})


def encode(book: Book) -> str:
    actions = [a.__dict__ for a in book.actions]
    return json.dumps({"versions": dict(book.versions), "in_service": dict(book.in_service), "actions": actions,
                       "replacing": dict(book.replacing), "regions": dict(book.regions)},
                      sort_keys=True, indent=1) + "\n"  # fmt: skip


def decode(text: str) -> Book:
    """The book in ``text``; an empty one when it is not one."""
    try:
        raw = json.loads(text)
        return Book(
            {str(k): str(v) for k, v in dict(raw.get("versions", {})).items()},
            {str(k): float(v) for k, v in dict(raw.get("in_service", {})).items()},
            tuple(LifecycleAction(**a) for a in raw.get("actions", [])),
            {str(k): float(v) for k, v in dict(raw.get("replacing", {})).items()},
            {str(k): str(v) for k, v in dict(raw.get("regions", {})).items()},
        )
    except (ValueError, TypeError, AttributeError):
        return Book()
