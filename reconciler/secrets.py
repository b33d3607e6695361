"""Masking secret values in text before it reaches a message, a log or a report. Pure.

:func:`redact` replaces every known secret value (longest first, so a secret
containing another is masked whole) and AWS's echo of a parameter value in
validation messages (``Value '...' at 'value'``) by
:data:`~reconciler.model.MASK`. Used by the drivers on every error text they
translate and by the executor on everything it reports. No client imports.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from reconciler.model import MASK

__all__ = ["MASK", "redact"]

_VALUE_ECHO = re.compile(r"Value '.*?' at '([^']*value[^']*)'", re.DOTALL | re.IGNORECASE)


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """Replace every secret (longest first) and AWS's echo of a parameter value by the mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _VALUE_ECHO.sub(lambda m: f"Value {MASK} at '{m.group(1)}'", text)
