"""The status page: the ``/api/status`` document rendered as one HTML page, by jinja2. Pure.

jinja2 rather than the standard library because its autoescape makes escaping the default: every
value that reaches the page (a commit subject, an author, an environment or service name, an
error) is escaped unless a template says otherwise, and none does; with f-strings and
``html.escape`` one forgotten call is an injection. The page needs no build step and no
JavaScript: a ``<meta http-equiv="refresh">`` reloads it, tables and definition lists carry
the data, and the headings and ``<dt>`` labels are stable (the browser test finds them).
The template lives in :mod:`.template`; jinja2 is imported and the template compiled on the first
page a process renders (the CLI's other commands never pay for it).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from reconciler.render.page.template import PAGE

if TYPE_CHECKING:
    from jinja2 import Template

REFRESH_SECONDS = 5


@cache
def _template() -> Template:
    from jinja2 import DictLoader, Environment, StrictUndefined  # imported on the first page, not at start

    env = Environment(loader=DictLoader({"page.html": PAGE}), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["when"] = _when
    env.filters["seconds"] = _seconds
    env.filters["counts"] = _counts
    return env.get_template("page.html")


def _when(iso: str | None) -> str:
    """``2026-12-05T10:22:57Z`` -> ``2026-12-05 10:22:57 UTC``; ``-`` for none."""
    return "-" if not iso else iso.replace("T", " ").removesuffix("Z") + " UTC"


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes} min {secs} s"


def _counts(actions: dict[str, int]) -> str:
    """``{"recreate_service": 2}`` -> ``recreate_service 2``; ``-`` for none."""
    return ", ".join(f"{kind} {n}" for kind, n in actions.items()) or "-"


def render_page(document: dict[str, Any], *, refresh: int = REFRESH_SECONDS) -> str:
    """The page of ``document`` (:func:`~reconciler.render.page.document.status_document`)."""
    return _template().render(doc=document, refresh=refresh)


__all__ = ["REFRESH_SECONDS", "render_page"]
