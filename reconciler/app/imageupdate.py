"""Image automation: ``reconciler image-update`` commits the newest tag each entry's policy allows. Does I/O.

For every Images entry with a ``policy``, the repository's tags are listed once (the OCI tags
list or ECR's DescribeImages, page by page; one listing per repository however many entries
share it, the repositories at once), the policy picks the newest
(:mod:`reconciler.core.image_policy`), and the change is written as ``set-image`` writes it
(:mod:`reconciler.app.setimage`): one commit, a ``Set-Image`` trailer per image, on the branch
checked out or pushed (fast-forward only, rebuilt once when another updater pushed first).

What it never does, decided again on the head the commit is built on (so a rebuild after a race
sees the other updater's commit):

* go back: an entry whose tag at the head is as new as the choice, or newer, stays;
* undo a rollback: an entry whose tag was last set by a rollback commit (``Rollback-To:``
  trailer, :func:`held_entries`) is held until a commit of anything else (``set-image``, an
  edit) sets it again;
* act on a pinned environment (``reconciler rollback --pin``): nothing is updated until unpin.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reconciler.app.clients import Clients
from reconciler.app.environment import resolved_environment
from reconciler.app.setimage import CommitOptions, ImageEdit, View, entry_file, message, outcome, write_edits
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import ReconcilerError
from reconciler.core.image_policy import Choice, ImagePolicy, choose, is_newer
from reconciler.core.model import ImageSpec
from reconciler.drivers.git.commit import FileChange, NothingToCommit
from reconciler.spec.yaml.edit import EntryValue, entry_values, quick_entry_values

__all__ = ["held_entries", "image_update"]

_ROLLBACK = re.compile(r"^Rollback-To: ", re.MULTILINE)


@dataclass(frozen=True)
class Candidate:
    name: str
    policy: ImagePolicy
    current: str | None
    choice: Choice
    digest: str | None = None  # of the chosen tag, when the policy pins digests


def _values(content: bytes | None) -> dict[str, EntryValue]:
    return {} if content is None else quick_entry_values(content.decode("utf-8", "replace"))


def held_entries(history: Sequence[FileChange], names: Sequence[str]) -> dict[str, str]:
    """Entry -> the rollback commit that last set it, for the entries of ``names`` whose tag (or
    digest) a rollback commit changed last in ``history`` (newest first). Pure."""
    held: dict[str, str] = {}
    open_names = set(names)
    for change in history:
        if not open_names:
            break
        after, before = _values(change.content), _values(change.parent_content)
        for name in sorted(open_names):
            if after.get(name) != before.get(name):
                open_names.discard(name)
                if _ROLLBACK.search(change.message):
                    held[name] = change.sha
    return held


def _pin(settings: Settings) -> str | None:
    from reconciler.app.statestore import open_state_store

    return open_state_store(settings).read_status(settings.environment).pin


def _list(clients: Clients, settings: Settings, refs: Sequence[ImageSpec]) -> dict[str, dict[str, str | None]]:
    """Entry -> {tag: digest (ECR) or None (OCI: resolved on demand)}: one listing per repository."""
    groups: dict[tuple[str, str], list[ImageSpec]] = {}
    for ref in refs:
        groups.setdefault((settings.registries[ref.name].host, ref.repository), []).append(ref)

    def one(members: list[ImageSpec]) -> dict[str, str | None]:
        registry = clients.registry(settings.registries[members[0].name])
        listed = registry.tags(members[0].repository)
        if listed is None:
            host = settings.registries[members[0].name].host
            raise ReconcilerError(f"registry {host}: repository {members[0].repository} not found "
                                  f"(image {members[0].name}); nothing was changed")  # fmt: skip
        if isinstance(listed, dict):  # ECR: with their digests
            return {tag: digest for tag, digest in listed.items()}
        return dict.fromkeys(listed)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(groups)))) as pool:
        answers = list(pool.map(one, groups.values()))
    return {ref.name: tags for members, tags in zip(groups.values(), answers, strict=True) for ref in members}


Connect = Callable[[Settings], Clients]


def _read_only(settings: Settings) -> Clients:
    return Clients.connect(settings, read_only=True)


def _candidates(
    env_dir: Path, overrides: Overrides, connect: Connect
) -> tuple[str, list[Candidate], dict[str, Path], str | None]:
    loaded, desired, settings = resolved_environment(env_dir, overrides)
    policies = {n: e.policy.to_policy() for n, (_d, e) in loaded.image_entries().items() if e.policy is not None}
    files = {name: entry_file(loaded, name) for name in policies}
    if not policies:
        return loaded.name, [], files, None
    pin = _pin(settings)
    if pin is not None:
        return loaded.name, [], files, pin
    refs = [r for r in desired.images if r.name in policies]
    current = {n: e.pinned_tag() for n, (_d, e) in loaded.image_entries().items()}
    clients = connect(settings)
    try:
        listed = _list(clients, settings, refs)
        found: list[Candidate] = []
        for ref in refs:
            policy = policies[ref.name]
            choice = choose(policy, listed[ref.name], current[ref.name])
            digest = listed[ref.name].get(choice.tag) if choice.tag is not None else None
            if choice.tag is not None and policy.pin_digest and digest is None:
                registry = clients.registry(settings.registries[ref.name])
                digest = registry.resolve(ref.repository, [choice.tag]).get(choice.tag)
            found.append(Candidate(ref.name, policy, current[ref.name], choice, digest))
    finally:
        clients.close()
    return loaded.name, found, files, None


@dataclass(frozen=True)
class Updates:
    """What the policies pick for one environment folder, before anything is written."""

    environment: str
    lines: list[str]  # one per image with a policy, or why nothing is looked at
    moving: list[Candidate]  # the entries whose policy picks another tag
    files: dict[str, Path]  # entry -> the file holding it


def find_updates(env_dir: Path, overrides: Overrides, connect: Connect = _read_only) -> Updates:
    """Each policy over its repository's tags (read-only)."""
    name, candidates, files, pin = _candidates(env_dir, overrides, connect)
    if pin is not None:
        why = f"{name} is pinned to {pin[:12]} (reconciler rollback --pin): no image update until `reconciler unpin`"
        return Updates(name, [why], [], files)
    if not candidates:
        return Updates(name, [f"{name}: no image has a policy: nothing to update"], [], files)
    lines = [f"{c.name}: {c.current} -> {c.choice.tag} (newest by {c.policy.describe()})" if c.choice.tag
             else f"{c.name}: stays {c.current} ({c.choice.reason})" for c in candidates]  # fmt: skip
    return Updates(name, lines, [c for c in candidates if c.choice.tag is not None], files)


class Decider:
    """The edits and the message of an image-update commit, decided on the base it is built on (again
    when it is built again); ``applied`` and ``notes`` are those of the last decision."""

    def __init__(self, updates: Updates, why: str | None = None) -> None:
        self.updates, self.why = updates, why
        self.applied: list[str] = []
        self.notes: list[str] = []

    def __call__(self, view: View) -> tuple[Sequence[ImageEdit], str]:
        moving = self.updates.moving
        edits, self.applied, self.notes = _decide(view, moving, self.updates.files)
        trailers = [f"Set-Image: {n}" for n in self.applied]
        body = "\n".join(f"{c.name}: {c.choice.reason}" for c in moving if f"{c.name} {c.choice.tag}" in self.applied)
        subject = f"Update {self.updates.environment}: {', '.join(self.applied)}"
        return edits, message(subject, self.why, body, [*trailers, "Image-Update: reconciler image-update"])


NOTHING = "nothing to commit: the branch already has these tags, newer ones, or holds them"


def image_update(
    env_dir: Path, overrides: Overrides, options: CommitOptions, *, dry_run: bool = False, connect: Connect = _read_only
) -> list[str]:
    """``reconciler image-update``: a line per image with a policy, then what was committed. The registry
    clients come from ``connect`` (read-only ones; tests count their calls)."""
    updates = find_updates(env_dir, overrides, connect)
    if not updates.moving or dry_run:
        tail = [] if not updates.files else ["nothing to commit" if not updates.moving else "dry run: nothing written"]
        return [*updates.lines, *tail]
    decide = Decider(updates, options.message)
    commit = options if options.push or options.branch else dataclasses.replace(options, commit=True)
    try:
        committed = write_edits(env_dir, decide, commit)
    except NothingToCommit:
        return [*updates.lines, *decide.notes, NOTHING]
    done = outcome(committed, f"{updates.environment}: {', '.join(decide.applied)}", str(env_dir))
    return [*updates.lines, *decide.notes, done]


def _decide(
    view: View, moving: Sequence[Candidate], files: dict[str, Path]
) -> tuple[list[ImageEdit], list[str], list[str]]:
    """The edits to make on ``view`` (the base the commit is built on): never back, never over a rollback."""
    edits: list[ImageEdit] = []
    applied: list[str] = []
    notes: list[str] = []
    by_file: dict[Path, list[Candidate]] = {}
    for c in moving:
        by_file.setdefault(files[c.name], []).append(c)
    for file, group in by_file.items():
        values = entry_values(view.text(file), file.name)
        held = held_entries(view.history(file), [c.name for c in group])
        for c in group:
            tag = str(c.choice.tag)
            now = values.get(c.name, EntryValue(None, None)).tag
            if c.name in held:
                notes.append(f"{c.name}: held at {now} by rollback commit {held[c.name][:12]} (not updated to "
                             f"{tag} until a commit sets it again, e.g. reconciler set-image)")  # fmt: skip
            elif now is not None and not is_newer(c.policy, tag, now):
                notes.append(f"{c.name}: the branch has {now}, as new as {tag} or newer: left as it is")
            else:
                edits.append(ImageEdit(c.name, file, tag, c.digest if c.policy.pin_digest else None))
                applied.append(f"{c.name} {tag}")
    return edits, applied, notes
