"""The pull-request comment of an environment whose folder the pull request's head no longer has.
Pure.

Its earlier comment showed a plan that no longer applies; it is edited (never created) to say the
folder is removed and what merging means, as the code does it: nothing deletes an environment
whose folder is gone. ``reconciler plan``/``apply`` of the folder have nothing to read; the loop
following it (``reconciler run --path``) fails every tick on its checkout (``path ... does not
exist at commit ...``, a permanent error ``/readyz`` reports) and applies
nothing; containers, parameters, images and the state store stay as they were. An environment is
known by its name (``metadata.name``: its containers' labels, its parameters' tags, its state),
not by its folder, which matters for a rename. A folder the pull request had added and a later
push removed again is only "no longer added".
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.render.comment import CommentContext, head_lines
from reconciler.render.markdown import code

__all__ = ["Removed", "removed_comment"]

_SHOWN_MAX = 200  # of a folder as shown


@dataclass(frozen=True)
class Removed:
    """An environment folder missing at the pull request's head. ``at_base``: whether it is at the
    base (True: the pull request removes it; False: the pull request had added it; None: no base
    given, ``--changed-since`` not used); ``moved_to``: the folder its files moved to (a rename)."""

    at_base: bool | None = None
    moved_to: str | None = None


def removed_comment(ctx: CommentContext, removed: Removed) -> str:
    """The body saying the folder ``ctx.key`` is gone at the head commit, and what merging does."""
    folder = code(ctx.key[:_SHOWN_MAX])
    lines = head_lines(f"### Reconciler plan for {folder}", ctx, [])
    if removed.at_base is False:
        lines.append(f"This pull request no longer adds the folder {folder}: nothing to plan.")
        return "\n".join(lines) + "\n"
    which = "removes the folder" if removed.at_base else "has no folder"
    lines += [f":wastebasket: **This pull request {which} {folder}**: there is nothing to plan for it."]
    if removed.moved_to:
        new = code(removed.moved_to[:_SHOWN_MAX])
        lines += ["", f"Its files move to {new}, planned in that folder's own comment."]
    lines += [
        "",
        "**Merging deletes nothing, in AWS or on the hosts.** Its containers keep running; its SSM "
        "parameters, images and state store (status, history) stay as they are, and nothing reconciles "
        "them any more:",
        "",
        f"- a loop following this folder ({code('reconciler run --path ' + ctx.key[:_SHOWN_MAX])}) no longer finds it: "
        "each tick fails with *path does not exist at commit* (a permanent error, reported by "
        "`/readyz`) and applies nothing, until the folder comes back or the loop is stopped;",
        f"- `reconciler plan` and `apply` of {folder} have nothing to read.",
        "",
    ]
    if removed.moved_to:
        lines += [
            "An environment is known by its name (`metadata.name`: its containers' labels, its parameters' "
            f"tags, its state), not by its folder: if {code(removed.moved_to[:_SHOWN_MAX])} keeps the name, "
            "a loop with that `--path` takes over the same resources; stop the loop of the old path.",
        ]
    else:
        lines += [
            "To take the environment down, stop its stacks on their hosts (`docker compose down`) and "
            "delete its parameters yourself, then stop its loop.",
        ]
    return "\n".join(lines) + "\n"
