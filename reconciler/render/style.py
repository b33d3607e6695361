"""Plain or ANSI-styled lines, built as one string. Pure; no rich.

What a terminal shows is what rich showed before (same SGR codes); without
colour a line is exactly its text, cleaned as rich cleaned it: the control
codes BEL, BS, VT, FF and CR removed and tabs expanded to columns of 8.
"""

from __future__ import annotations

_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35"}
_STRIP = {code: None for code in (7, 8, 11, 12, 13)}
RESET = "\x1b[0m"


def clean(text: str) -> str:
    """``text`` as rich printed it: control codes that move the cursor removed, tabs expanded."""
    text = text.translate(_STRIP)
    if "\t" in text:
        text = "\n".join(_expand_tabs(line) if "\t" in line else line for line in text.split("\n"))
    return text


def _expand_tabs(text: str, column: int = 0) -> str:
    """Tabs to spaces, by terminal cells (wide characters count two) from ``column``, as rich
    does."""
    from rich.text import Text  # only for the rare text with a tab

    rich_text = Text(" " * column + text)
    rich_text.expand_tabs(8)
    return rich_text.plain[column:]


def _cells(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def sgr(style: str) -> str:
    """The escape sequence that starts ``style`` (e.g. ``bold red``); empty for no style."""
    codes = [_SGR[word] for word in style.split() if word in _SGR]
    return f"\x1b[{';'.join(codes)}m" if codes else ""


class Lines:
    """Output lines; ``color`` adds ANSI styles. ``str()`` is the whole text, one newline a line."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self._lines: list[str] = []

    def add(self, text: str = "", style: str = "") -> None:
        """One line (or several, if ``text`` has newlines) in one style."""
        self.parts((text, style))

    def parts(self, *parts: tuple[str, str]) -> None:
        """One line made of (text, style) parts."""
        if not self.color:  # cleaned once, as a whole, by str()
            self._lines.append("".join(text for text, _ in parts))
            return
        rows: list[list[str]] = [[]]
        row = ""  # the current row as shown, for where a tab stops
        for text, style in parts:
            start = sgr(style)
            for i, piece in enumerate(text.translate(_STRIP).split("\n")):
                if i:
                    rows.append([])
                    row = ""
                if "\t" in piece:
                    piece = _expand_tabs(piece, _cells(row))
                row += piece
                if piece:
                    rows[-1].append(f"{start}{piece}{RESET}" if start else piece)
        self._lines.extend("".join(pieces) for pieces in rows)

    def __str__(self) -> str:
        text = "".join(line + "\n" for line in self._lines)
        return text if self.color else clean(text)
