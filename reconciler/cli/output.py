"""What the command line writes: whole strings on stdout, and lines on stderr cleaned of
cursor-moving control codes, ``Error:`` in bold red on a terminal. Standard library only
until a line is written (the styling is imported then)."""

from __future__ import annotations

import sys

__all__ = ["Err", "write"]


class Err:
    """stderr: whole lines, cleaned of cursor-moving control codes; ``Error:`` in bold red on a terminal."""

    def __init__(self, color: bool) -> None:
        self.color = color and sys.stderr.isatty()

    def say(self, message: str) -> None:
        from reconciler.render.style import clean

        sys.stderr.write(clean(message) + "\n")
        sys.stderr.flush()

    def error(self, message: str) -> None:
        from reconciler.render.style import RESET, clean, sgr

        label = f"{sgr('bold red')}Error:{RESET}" if self.color else "Error:"
        sys.stderr.write(f"{label} {clean(message)}\n")
        sys.stderr.flush()


def write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
