"""Masking secret values in text before it reaches a message, a log or a report. Pure.

:func:`redact` replaces every known secret value (longest first, so a secret
containing another is masked whole) and AWS's echo of a parameter value in
validation messages (``Value '...' at 'value'``) by
:data:`~reconciler.core.model.MASK`. Used by the drivers on every error text they
translate and by the executor on everything it reports. No client imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator

from reconciler.core.model import MASK

__all__ = ["MASK", "MIN_LINE", "redact"]

MIN_LINE = 4

_VALUE_ECHO = re.compile(r"Value '.*?' at '([^']*value[^']*)'", re.DOTALL | re.IGNORECASE)


def _forms(secret: str) -> Iterator[str]:
    """The ways a secret shows up in tool output: as is, JSON-escaped, ``$`` doubled, its lines."""
    yield secret
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield secret.replace("$", "$$")
    if secret.strip() != secret and len(secret.strip()) >= MIN_LINE:
        yield secret.strip()  # tools trim what they print
    if "\n" in secret or "\r" in secret:
        for line in secret.splitlines():
            if len(line.strip()) >= MIN_LINE:
                yield line.strip()


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """Replace every secret (in every form it is printed, longest first) and AWS's echo of a
    parameter value by the mask."""
    forms = {form for secret in secrets if secret for form in _forms(secret) if form}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return _VALUE_ECHO.sub(lambda m: f"Value {MASK} at '{m.group(1)}'", text)
