"""The loop's log as JSON lines: one object per event, with the typed event's own fields. Pure.

``reconciler run --log-format json`` (the default when stderr is not a terminal: journald,
a container, a pipe) writes these instead of the terminal's lines
(:func:`reconciler.render.event_line`): ``{"time", "level", "event", ...fields}``, the
event's class name and its dataclass fields; a line the loop says (a tick's summary, a
wake-up) is ``{"event": "Message", "message": ...}``. Events and messages hold no secret.
"""

from __future__ import annotations

import dataclasses
import json
import time
from enum import Enum
from typing import Any

from reconciler.core.events import ActionFinished, Event, HostObserved, UnitFinished

_ERRORS = {"failed"}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _level(event: Event) -> str:
    if isinstance(event, ActionFinished | UnitFinished) and event.status in _ERRORS:
        return "error"
    if isinstance(event, HostObserved) and event.error:
        return "error"
    return "info"


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def event_json(event: Event, at: float) -> str:
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}
    record = {"time": _stamp(at), "level": _level(event), "event": type(event).__name__, **fields}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def message_json(message: str, at: float, level: str = "info") -> str:
    record = {"time": _stamp(at), "level": level, "event": "Message", "message": message}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
