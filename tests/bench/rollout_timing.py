"""A rollout's timings read from the event lines of one run (each line with the moment it arrived),
and its floor. Pure: no I/O (tests/test_bench_harness.py).

The CLI prints one line when a step starts (``instance:i-1/leave: leaving the load balancer and
draining``, ``stack popcon on host i-1: applying 1 action(s)``) and one when it ends
(``instance:i-1/leave: done (...)``, ``...: failed (...)``); the plan it prints first says which
batch each instance is in (``< instance:i-1/leave  # batch 1: ...``).

The floor of a batch is what no tool can avoid: the target group's deregistration delay (the
drain), the recreate of the batch's instances (the run's own stack steps, from their start line
to their last action's end; the instances of a batch change at once, so the longest), and the time
the load balancer needs to put a registered target in service (its registration delay plus the
healthy threshold times its check interval).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Line = tuple[float, str]  # (seconds, monotonic, when it was read; the line)

_STACK = re.compile(r"^stack \S+ on host (\S+): applying")
_HOST_DONE = re.compile(r"^(?:service|image|network|volume):([^/\s]+)/\S+: (?:done|failed)")
_BATCH = re.compile(r"instance:(\S+)/leave\s+# batch (\d+):")


@dataclass(frozen=True)
class Floor:
    """The target group's settings as the sandbox's load balancer runs them (seconds)."""

    drain: float  # deregistration delay
    registration: float  # a registration reaches the load balancer this long after the API has it
    healthy_threshold: int
    interval: float  # between two checks of a target, as the load balancer runs them

    @property
    def health(self) -> float:
        return self.registration + self.healthy_threshold * self.interval


@dataclass(frozen=True)
class Batch:
    number: int
    instances: tuple[str, ...]
    recreate: float  # the longest stack step of its instances


@dataclass(frozen=True)
class Rollout:
    """One rollout's measured span (first leave started -> last join done) and its batches."""

    span: float
    batches: tuple[Batch, ...]

    def floor(self, floor: Floor) -> float:
        return sum(floor.drain + b.recreate + floor.health for b in self.batches)


def first(lines: Sequence[Line], pattern: str) -> float | None:
    return next((t for t, text in lines if re.search(pattern, text)), None)


def last(lines: Sequence[Line], pattern: str) -> float | None:
    return next((t for t, text in reversed(lines) if re.search(pattern, text)), None)


def batches_of(plan_text: str) -> dict[str, int]:
    """Instance -> its batch, from the plan the CLI printed."""
    return {m.group(1): int(m.group(2)) for m in _BATCH.finditer(plan_text)}


def recreates(lines: Sequence[Line]) -> dict[str, float]:
    """Instance -> its stack step: from ``stack ... on host <instance>: applying`` to the last of its
    actions that ended (the first such step of each instance in ``lines``)."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    for t, text in lines:
        if (m := _STACK.match(text)) and m.group(1) not in started:
            started[m.group(1)] = t
        elif (m := _HOST_DONE.match(text)) and m.group(1) in started:
            ended[m.group(1)] = t
    return {i: ended[i] - s for i, s in started.items() if i in ended}


def rollout(lines: Sequence[Line], plan_text: str) -> Rollout:
    """The rollout in ``lines`` (one run, or the part of it after a point)."""
    start = first(lines, r"^instance:\S+/leave: leaving")
    end = last(lines, r"^instance:\S+/join: done")
    if start is None or end is None:
        raise ValueError("no rollout in these lines (no leave started, or no join done)")
    took = recreates(lines)
    numbers = batches_of(plan_text)
    out: list[Batch] = []
    for number in sorted(set(numbers.values())):
        members = tuple(i for i, n in numbers.items() if n == number)
        out.append(Batch(number, members, max(took.get(i, 0.0) for i in members)))
    return Rollout(end - start, tuple(out))
