"""The status page of ``reconciler run --listen`` (``/``) and its JSON (``/api/status``). Pure.

:mod:`.view` (what the page shows, as data, and how a plan becomes it), :mod:`.document` (the
JSON, format 1.x: ``specs/status.schema.json``), :mod:`.html` and :mod:`.template` (the page,
jinja2 with autoescape). The loop builds the view (``reconciler.loop.board``); the listener
serves the strings.
"""

from __future__ import annotations

from reconciler.render.page.document import STATUS_FORMAT_VERSION, status_document, status_json
from reconciler.render.page.html import REFRESH_SECONDS, render_page
from reconciler.render.page.view import LoopView, Observation, StatusView, github_url, observation

__all__ = [
    "REFRESH_SECONDS", "STATUS_FORMAT_VERSION", "LoopView", "Observation", "StatusView", "github_url",
    "observation", "render_page", "status_document", "status_json",
]  # fmt: skip
