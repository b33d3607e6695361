"""Deploys and promotions as commits: ``reconciler set-image`` and ``reconciler promote``. Does I/O.

Both edit Images documents in place (:mod:`reconciler.spec.yaml.edit`: a byte diff shows only the
tag), after a read-only check that the registry has the tag (the check ``plan`` makes, through the
same clients), and then, by the :class:`CommitOptions`:

* nothing more: the file in the working tree is edited, not committed;
* ``commit``: one commit on the branch checked out (refused in a dirty working tree), with a
  ``Set-Image: <entry> <tag>`` trailer per image;
* ``push``: the commit is built on the remote branch's head and pushed as a fast-forward,
  rebuilt once if the branch moved, never forced (:mod:`reconciler.drivers.git.commit`); the
  local branch follows when it stood at that head; ``branch``: pushed to a new branch instead.

``promote`` gives the destination the tags the source's Images documents name and writes the
destination's read-only plan with them in the commit body.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.app.clients import Clients
from reconciler.app.environment import open_environment, resolved_environment
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredState, ImageSpec
from reconciler.drivers.git.commit import (
    Author,
    Change,
    Committed,
    FileChange,
    NothingToCommit,
    Snapshot,
    check_clean,
    commit_local,
    commit_pushed,
    follow_pushed,
)
from reconciler.drivers.git.local import local_repository
from reconciler.spec.documents import ImageEntry
from reconciler.spec.loader import LoadedEnvironment
from reconciler.spec.yaml.edit import EntryValue, set_entries

__all__ = [
    "CommitOptions",
    "CommitView",
    "Decide",
    "ImageEdit",
    "View",
    "edited_files",
    "promote",
    "set_image",
    "write_edits",
]


@dataclass(frozen=True)
class CommitOptions:
    commit: bool = False
    push: bool = False
    branch: str | None = None  # push to this new branch (a pull request) instead of the one checked out
    message: str | None = None  # why, written after the subject
    state_dir: Path = Path(".")  # the mirrors of pushed repositories live under it


@dataclass(frozen=True)
class ImageEdit:
    entry: str
    file: Path  # the file holding the entry (absolute)
    tag: str
    digest: str | None = None  # written beside the tag (policy.pinDigest)


def entry_file(loaded: LoadedEnvironment, entry: str) -> Path:
    """The file of the Images document holding ``entry``; a clear error naming the known ones."""
    for doc_name, doc in loaded.images.items():
        if entry in doc.spec.images:
            return loaded.source("Images", doc_name).path
    known = ", ".join(loaded.image_entries()) or "none"
    raise ReconcilerError(f"{loaded.env_dir}: no image named {entry!r} in its Images documents (images: {known})")


def pins_digest(entry: ImageEntry) -> bool:
    return entry.policy is not None and entry.policy.pin_digest


def tag_digests(clients: Clients, settings: Settings, refs: Sequence[tuple[ImageSpec, str]]) -> dict[str, str]:
    """Entry -> digest of the tag wanted for it: a read-only check; a tag the registry lacks is an error."""
    found: dict[str, str] = {}
    for ref, tag in refs:
        registry = settings.registries[ref.name]
        digest = clients.registry(registry).resolve(ref.repository, [tag]).get(tag)
        if digest is None:
            raise ReconcilerError(
                f"registry {registry.host}: {ref.repository} has no tag {tag!r} (image {ref.name}); nothing was changed"
            )
        found[ref.name] = digest
    return found


def _checked(settings: Settings, refs: Sequence[tuple[ImageSpec, str]]) -> dict[str, str]:
    clients = Clients.connect(settings, read_only=True)
    try:
        return tag_digests(clients, settings, refs)
    finally:
        clients.close()


def message(subject: str, why: str | None, body: str, trailers: Sequence[str]) -> str:
    parts = [subject, *([why.strip()] if why and why.strip() else []), *([body.rstrip()] if body else [])]
    return "\n\n".join([*parts, "\n".join(trailers)]) + "\n"


def _apply(text: str, edits: Sequence[ImageEdit], where: str) -> str:
    return set_entries(text, {one.entry: EntryValue(one.tag, one.digest) for one in edits}, where=where)


class View(Protocol):
    """The base the edits are decided on: the working tree, or the commit the new one is built on."""

    def text(self, file: Path) -> str: ...

    def history(self, file: Path) -> list[FileChange]: ...


Decide = Callable[[View], tuple[Sequence[ImageEdit], str]]  # the edits and the commit message


class _Tree:
    def text(self, file: Path) -> str:
        return file.read_text(encoding="utf-8")

    def history(self, file: Path) -> list[FileChange]:
        return []


class CommitView:
    def __init__(self, snapshot: Snapshot, top: Path) -> None:
        self.snapshot, self.top = snapshot, top

    def rel(self, file: Path) -> str:
        return file.resolve().relative_to(self.top).as_posix()

    def text(self, file: Path) -> str:
        raw = self.snapshot.read(self.rel(file))
        if raw is None:
            raise ReconcilerError(f"{self.rel(file)} is not in commit {self.snapshot.sha[:12]}: commit it first")
        return raw.decode("utf-8")

    def history(self, file: Path) -> list[FileChange]:
        return self.snapshot.history(self.rel(file))


def edited_files(view: View, edits: Sequence[ImageEdit]) -> dict[Path, str]:
    """The files ``edits`` change, with their new text (only those that differ)."""
    by_file: dict[Path, list[ImageEdit]] = {}
    for one in edits:
        by_file.setdefault(one.file, []).append(one)
    out: dict[Path, str] = {}
    for file, group in by_file.items():
        old = view.text(file)
        new = _apply(old, group, file.name)
        if new != old:
            out[file] = new
    return out


def write_edits(env_dir: Path, decide: Decide, options: CommitOptions) -> Committed | None:
    """Write the edits ``decide`` makes on the base as ``options`` say (see the module); None when only
    the working tree was edited. Raises NothingToCommit when they change nothing."""
    if not (options.commit or options.push or options.branch):
        edits, _text = decide(_Tree())
        changed = edited_files(_Tree(), edits)
        if not changed:
            raise NothingToCommit("the files already say so")
        for file, new in changed.items():
            _write_file(file, new)
        return None
    repo = local_repository(env_dir)
    if repo.branch is None:
        raise ReconcilerError(f"{repo.top}: HEAD is detached: check out the branch to commit on")

    def edit(snapshot: Snapshot) -> Change | None:
        view = CommitView(snapshot, repo.top)
        edits, text = decide(view)
        files = {view.rel(file): new.encode("utf-8") for file, new in edited_files(view, edits).items()}
        return Change(files, text) if files else None

    author = Author(repo.author_name, repo.author_email)
    check_clean(repo.top, repo.branch)
    if not (options.push or options.branch):
        return commit_local(repo.top, repo.branch, edit, author)
    if repo.origin is None:
        raise ReconcilerError(f"{repo.top}: no origin remote to push to")
    committed = commit_pushed(repo.origin, repo.branch, edit, author, work_dir=options.state_dir / "commits",
                              to_branch=options.branch)  # fmt: skip
    if options.branch is None and not follow_pushed(repo.top, repo.origin, repo.branch, committed):
        committed = dataclasses.replace(committed, behind=True)
    return committed


def _write_file(path: Path, text: str) -> None:
    """Replace ``path`` whole (a temporary sibling renamed over it), keeping its mode."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def outcome(committed: Committed | None, what: str, where: str) -> str:
    if committed is None:
        return f"{what} in {where} (not committed: --commit or --push to commit it)"
    pushed = f", pushed to {committed.branch}" if committed.pushed else f" on {committed.branch}"
    rebuilt = " (the branch had moved: built again on its new head)" if committed.rebuilt else ""
    behind = "; `git pull` to get it here" if committed.behind else ""
    return f"{what}: commit {committed.sha[:12]}{pushed}{rebuilt}{behind}"


def set_image(env_dir: Path, entry: str, tag: str, overrides: Overrides, options: CommitOptions) -> str:
    """``reconciler set-image``: one line saying what was written."""
    loaded, desired, settings = resolved_environment(env_dir, overrides)
    file = entry_file(loaded, entry)
    ref = next(r for r in desired.images if r.name == entry)
    digest = _checked(settings, [(ref, tag)])[entry]
    spec = loaded.image_entries()[entry][1]
    edit = ImageEdit(entry, file, tag, digest if pins_digest(spec) else None)
    text = message(f"Set {entry} to {tag} in {loaded.name}", options.message, "", [f"Set-Image: {entry} {tag}"])
    try:
        committed = write_edits(env_dir, lambda _view: ([edit], text), options)
    except NothingToCommit:
        return f"{entry} is already {tag} in {loaded.name}: nothing to change"
    return outcome(committed, f"{entry} set to {tag}", str(env_dir))


def with_images(desired: DesiredState, tags: Mapping[str, tuple[str, str | None]]) -> DesiredState:
    """``desired`` with the images named in ``tags`` at (tag, digest), in the stacks too."""
    images = {ref.name: dataclasses.replace(ref, tag=tags[ref.name][0], digest=tags[ref.name][1])
              if ref.name in tags else ref for ref in desired.images}  # fmt: skip
    stacks = tuple(
        dataclasses.replace(stack, services=tuple(
            dataclasses.replace(svc, image=images[svc.image.name]) if svc.image is not None else svc
            for svc in stack.services))
        for stack in desired.stacks
    )  # fmt: skip
    return dataclasses.replace(desired, images=tuple(images.values()), stacks=stacks)


def promote(src_dir: Path, dst_dir: Path, only: Sequence[str], overrides: Overrides, options: CommitOptions) -> str:
    """``reconciler promote``: the destination gets the source's tags, in one commit with its plan."""
    src, _src_desired, _ = resolved_environment(src_dir, overrides)
    dst, dst_desired, settings = resolved_environment(dst_dir, overrides)
    src_entries, dst_entries = src.image_entries(), dst.image_entries()
    names = list(only) or [n for n in src_entries if n in dst_entries]
    for name in names:
        if name not in src_entries or name not in dst_entries:
            side = src_dir if name not in src_entries else dst_dir
            raise ReconcilerError(f"{side}: no image named {name!r} in its Images documents; nothing was changed")
        if src_entries[name][1].pinned_tag() is None:
            raise ReconcilerError(f"{src_dir}: image {name} is pinned by digest only: no tag to promote")
    wanted = {n: str(src_entries[n][1].pinned_tag()) for n in names}
    changing = [n for n in names if dst_entries[n][1].pinned_tag() != wanted[n]]
    if not changing:
        return f"{dst.name} already has {src.name}'s tags ({', '.join(names) or 'no common image'}): nothing to promote"
    refs = {r.name: r for r in dst_desired.images}
    digests = _checked(settings, [(refs[n], wanted[n]) for n in changing])
    edits = [ImageEdit(n, entry_file(dst, n), wanted[n], digests[n] if pins_digest(dst_entries[n][1]) else None)
             for n in changing]  # fmt: skip
    listed = ", ".join(f"{n} {wanted[n]}" for n in changing)
    body = _plan_body(dst_dir, overrides, {e.entry: (e.tag, e.digest) for e in edits}, dst.name)
    trailers = [f"Promoted-From: {src.name}", *(f"Set-Image: {n} {wanted[n]}" for n in changing)]
    text = message(f"Promote {src.name} to {dst.name}: {listed}", options.message, body, trailers)
    try:
        committed = write_edits(dst_dir, lambda _view: (edits, text), options)
    except NothingToCommit:
        return f"{dst.name} already has {listed}: nothing to commit"
    return outcome(committed, f"{dst.name} promoted to {listed}", str(dst_dir))


def _plan_body(dst_dir: Path, overrides: Overrides, tags: Mapping[str, tuple[str, str | None]], name: str) -> str:
    """The destination's read-only plan with the new tags, for the commit body; why not, when it cannot be made."""
    from reconciler.render.commit import plan_body

    try:
        ctx = open_environment(dst_dir, overrides, read_only=True, adjust=lambda d: with_images(d, tags))
    except ReconcilerError as exc:
        return f"Plan of {name}: not made ({exc})"
    try:
        return plan_body(ctx.plan().plan, name)
    except ReconcilerError as exc:
        return f"Plan of {name}: not made ({exc})"
    finally:
        ctx.close()
