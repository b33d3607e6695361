"""Image updates by the loop (``reconciler run --image-update``): before each tick, the policies of the
environment at the branch head, committed and pushed to the loop's repository. Does I/O.

The same decisions as ``reconciler image-update`` (:mod:`reconciler.app.imageupdate`: never back, never over
a rollback commit or a pin), made on the head's files (a private checkout of the whole tree, as a tick
reads it) and written as a commit pushed to the branch the loop follows (fast-forward only, built again
once when the branch moved, never forced), by ``reconciler <reconciler@HOST>``; the tick that follows
fetches and deploys it like any commit. The repository must accept pushes: a URL or a bare repository
(git refuses a push to the branch checked out in a working tree).
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from reconciler.app.imageupdate import NOTHING, Decider, find_updates
from reconciler.app.setimage import CommitView
from reconciler.app.settings import Overrides
from reconciler.drivers.git.commit import Author, Change, NothingToCommit, Snapshot, commit_pushed
from reconciler.drivers.git.source import GitSource, normalise_path

__all__ = ["ImageLoop"]


@dataclass(frozen=True)
class ImageLoop:
    """Image updates of the folder ``path`` of ``repo``'s ``branch``, in ``work_dir``."""

    repo: str
    branch: str
    path: str
    overrides: Overrides
    work_dir: Path
    dry_run: bool = False  # the loop's plan mode: say what the policies pick, write nothing

    def update(self) -> list[str]:
        """One round: what each policy picks, then what was pushed (or why not)."""
        source = GitSource(self.repo, self.branch, self.work_dir / "mirror")
        head = source.fetch()
        tree = self.work_dir / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        source.checkout(head.sha, "", tree)
        try:
            rel = normalise_path(self.path, resource=source.resource)
            updates = find_updates(tree.joinpath(*rel.split("/")) if rel else tree, self.overrides)
            if not updates.moving or self.dry_run:
                return updates.lines if not updates.moving else [*updates.lines, "plan mode: nothing pushed"]
            decide = Decider(updates)
            top = tree.resolve()

            def edit(snapshot: Snapshot) -> Change | None:
                from reconciler.app.setimage import edited_files

                view = CommitView(snapshot, top)
                edits, text = decide(view)
                files = {view.rel(file): new.encode("utf-8") for file, new in edited_files(view, edits).items()}
                return Change(files, text) if files else None

            author = Author("reconciler", f"reconciler@{socket.gethostname()}")
            try:
                committed = commit_pushed(self.repo, self.branch, edit, author, work_dir=self.work_dir / "commits")
            except NothingToCommit:
                return [*updates.lines, *decide.notes, NOTHING]
            rebuilt = " (built again on its new head)" if committed.rebuilt else ""
            done = f"{updates.environment}: {', '.join(decide.applied)}: pushed {committed.sha[:12]}{rebuilt}"
            return [*updates.lines, *decide.notes, done]
        finally:
            shutil.rmtree(tree, ignore_errors=True)
