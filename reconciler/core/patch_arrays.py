"""Arrays in an RFC 6902 diff: which runs of items differ, and where an item is as operations
are added, removed or turned into moves. Pure.

:func:`differing_runs` says which runs of an array were replaced (between the common start
and end, by :class:`difflib.SequenceMatcher` unless comparing by position takes fewer
operations). :class:`ArrayItems` keeps every item an array has at some point of the diff,
ordered by labels, so that :mod:`reconciler.core.patch` can write an operation's index
only once the operations before it are final.
"""

from __future__ import annotations

import bisect
import collections
import json
from collections.abc import MutableMapping, MutableSequence, Sequence
from difflib import SequenceMatcher

Part = str | int  # an object member's name or an array index
Parts = tuple[Part, ...]

#: Up to which product of their lengths two arrays have all their equal items matched up.
EXACT_MATCH_LIMIT = 500**2


def move_key(value: object) -> str:
    """Equal for values equal in JSON (object members in any order); 1 and true differ."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return json.dumps(value)  # the cached default encoder: much cheaper than with options


class ArrayItem:
    """An item that an array has at some point of the diff, ordered in it by ``label``."""

    __slots__ = ("array", "initial", "label")

    def __init__(self, array: ArrayItems, label: int, initial: bool) -> None:
        self.array = array
        self.label = label
        self.initial = initial  # the item is in the array of ``before``

    def index(self) -> int:
        """The item's index in the array, or the index it would have if it were in it."""
        return bisect.bisect_left(self.array.present_labels, self.label)


class ArrayItems:
    """All items an array has at some point of the diff, and those it has now, both by label.

    The array keeps its items in this order at every point, also when a move later
    replaces the add or remove of an item: an item inserted at an index goes right
    after the item before it (before a removed item at that index)."""

    STEP = 1 << 16  # how far apart the labels of items inserted one after the other are
    GAP = 1 << 32  # how far apart labels are at the start and at the ends

    def __init__(self) -> None:
        self.items: list[ArrayItem] = []
        self.labels: list[int] = []
        self.present: list[ArrayItem] = []
        self.present_labels: list[int] = []

    def at(self, index: int) -> ArrayItem:
        """The item at ``index`` now (items of ``before`` not dealt with yet are made when needed)."""
        while len(self.present) <= index:
            label = self.labels[-1] + self.GAP if self.labels else 0
            item = ArrayItem(self, label, True)
            self.items.append(item)
            self.labels.append(label)
            self.present.append(item)
            self.present_labels.append(label)
        return self.present[index]

    def insert(self, index: int) -> ArrayItem:
        """A new item inserted at ``index``."""
        position = bisect.bisect_right(self.labels, self.at(index - 1).label) if index else 0
        if position == 0 or position == len(self.labels):
            if not self.labels:
                label = 0
            elif position == 0:
                label = self.labels[0] - self.GAP
            else:
                label = self.labels[-1] + self.GAP
        else:
            if self.labels[position] - self.labels[position - 1] < 2:
                self._relabel()
            low, high = self.labels[position - 1], self.labels[position]
            label = low + min(self.STEP, (high - low) // 2)
        item = ArrayItem(self, label, False)
        self.items.insert(position, item)
        self.labels.insert(position, label)
        self.add(item)
        return item

    def _relabel(self) -> None:
        self.labels = [i * self.GAP for i in range(len(self.items))]
        for item, label in zip(self.items, self.labels, strict=True):
            item.label = label
        self.present_labels = [item.label for item in self.present]

    def add(self, item: ArrayItem) -> None:
        position = bisect.bisect_left(self.present_labels, item.label)
        self.present.insert(position, item)
        self.present_labels.insert(position, item.label)

    def remove(self, item: ArrayItem) -> None:
        position = bisect.bisect_left(self.present_labels, item.label)
        del self.present[position]
        del self.present_labels[position]

    def reset(self) -> None:
        """Back to the items of ``before``."""
        self.present = [item for item in self.items if item.initial]
        self.present_labels = [item.label for item in self.present]


Location = tuple[str | ArrayItem, ...]  # parts with each array index as the item it stands for


def is_inside(parts: Parts, container: Parts) -> bool:
    return len(parts) > len(container) and parts[: len(container)] == container


def without_item(parts: Parts, location: Parts) -> Parts:
    """``parts`` (which count an item at ``location``) as they are once that item is gone."""
    depth = len(location) - 1
    last = location[-1]
    if isinstance(last, int) and is_inside(parts, location[:-1]):
        index = parts[depth]
        if isinstance(index, int) and index > last:
            return (*parts[:depth], index - 1, *parts[depth + 1 :])
    return parts


def positional_cost(old: object, new: object) -> int:
    """About how many operations change ``old`` into ``new`` when array items are compared by position."""
    if old == new:
        return 0
    if isinstance(old, MutableMapping) and isinstance(new, MutableMapping):
        return sum(positional_cost(old[key], new[key]) if key in new else 1 for key in old) + sum(
            key not in old for key in new
        )
    if isinstance(old, MutableSequence) and isinstance(new, MutableSequence):
        return abs(len(old) - len(new)) + sum(positional_cost(*items) for items in zip(old, new, strict=False))
    return 1


def differing_runs(src: Sequence[object], dst: Sequence[object]) -> list[tuple[int, int, int, int]]:
    """(i1, i2, j1, j2) for each run ``src[i1:i2]`` replaced by ``dst[j1:j2]``, between runs of items
    both have (without matching those up, an item inserted in front would change all that follow)."""
    src_keys = [move_key(item) for item in src]
    dst_keys = [move_key(item) for item in dst]
    shorter = min(len(src), len(dst))  # only what is between the common start and end is matched up
    start = 0
    while start < shorter and src_keys[start] == dst_keys[start]:
        start += 1
    common_end = 0
    while common_end < shorter - start and src_keys[-1 - common_end] == dst_keys[-1 - common_end]:
        common_end += 1
    src_end, dst_end = len(src) - common_end, len(dst) - common_end

    def cost(i1: int, i2: int, j1: int, j2: int) -> int:
        """How many operations replacing src[i1:i2] by dst[j1:j2] takes."""
        return abs((i2 - i1) - (j2 - j1)) + sum(
            positional_cost(src[i], dst[j])
            for i, j in zip(range(i1, i2), range(j1, j2), strict=False)
            if src_keys[i] != dst_keys[j]
        )

    by_position = (start, src_end, start, dst_end)
    position_cost = cost(*by_position)
    # Matching up all items takes time proportional to the product of the lengths; for longer
    # arrays SequenceMatcher leaves out frequent items, and gives up where that still takes long.
    exact = (src_end - start) * (dst_end - start) <= EXACT_MATCH_LIMIT
    if not exact:
        counts = collections.Counter(dst_keys[start:dst_end])
        comparisons = sum(counts[key] for key in src_keys[start:src_end])
        if comparisons > max(EXACT_MATCH_LIMIT, position_cost**2):
            return [by_position]
    matcher = SequenceMatcher(None, src_keys[start:src_end], dst_keys[start:dst_end], autojunk=not exact)
    runs = [
        (start + i1, start + i2, start + j1, start + j2)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]
    # Items equal by chance can take more operations matched up than compared by position.
    if sum(cost(*run) for run in runs) > position_cost:
        return [by_position]
    return runs
