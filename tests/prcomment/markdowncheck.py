"""A checker for what a comment body must never be: a code fence left open, a ``<details>``
closed before it opens or left open (CommonMark's fence rules: a closing fence is a line of at
least as many backticks, indented by at most three spaces)."""

from __future__ import annotations

import re

_OPEN = re.compile(r"^ {0,3}(`{3,})[^`]*$")
_LINES = re.compile(r"\r\n|\r|\n")


def problems(body: str) -> list[str]:
    """What is broken in ``body`` (empty: nothing)."""
    fence = 0
    depth = 0
    found: list[str] = []
    for number, line in enumerate(_LINES.split(body), 1):
        if fence:
            stripped = line.strip(" ")
            indent = len(line) - len(line.lstrip(" "))
            if indent <= 3 and stripped and set(stripped) == {"`"} and len(stripped) >= fence:
                fence = 0
            continue
        opened = _OPEN.match(line)
        if opened:
            fence = len(opened.group(1))
            continue
        for tag in re.findall(r"</?details\b", line):
            depth += -1 if tag.startswith("</") else 1
            if depth < 0:
                found.append(f"line {number}: </details> without <details>")
                depth = 0
    if fence:
        found.append("a code fence is never closed")
    if depth:
        found.append(f"{depth} <details> never closed")
    return found
