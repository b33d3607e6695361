"""One tick of the loop: fetch, check out, take the lease, then the locked part
(:mod:`.locked`). Does I/O (git, the state store) through what it is given (:mod:`.ports`).

A tick fetches the branch and checks out the head commit's tree into a private
directory (committed content only, never a working tree; the whole tree, so
that files a compose file includes or extends from outside the environment
folder are those of the same commit), loads its environment folder's
settings, and takes the environment's lease for the rest
of the tick (a manual apply or another loop holding it makes the tick wait
for its next turn); under it, :mod:`.locked` reads the status (a pin makes
it target the pinned commit instead), opens the world through the injected
:class:`~reconciler.loop.ports.OpenWorld`, plans once, decides
(:mod:`.decide`), applies through the one reconcile flow, and records the
status and the history computed from its :class:`~reconciler.loop.outcome.Attempt`.
Errors are classified: temporary ones (unreachable, throttled, a lease
held) are retried by the runner with backoff; permanent ones (a broken
spec, a tag that does not exist, a service that never becomes healthy)
mark the revision failed and are not retried until it changes.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import app
from reconciler.app.settings import Overrides, Settings
from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError
from reconciler.core.events import EventSink
from reconciler.loop.conditions import invalid_spec_status
from reconciler.loop.decide import Mode, describe
from reconciler.loop.locked import LockedTick, TickInputs
from reconciler.loop.outcome import Finished, Started, TickOutcome, ignore, invalid_spec_entry, summary
from reconciler.loop.ports import OpenStore, OpenWorld, Planned, Source
from reconciler.state import LeaseHeld, LeaseLost, Reason, Result, Revision, StateStore, Trigger, takeover_line
from reconciler.state.lease import LEASE_TTL

if TYPE_CHECKING:
    from reconciler.drivers.state.heartbeat import Heartbeat

KEEP_CHECKOUTS = 3


@dataclass(frozen=True)
class LoopOptions:
    repo: str
    branch: str = "main"
    path: str = ""
    mode: Mode = "apply"
    interval: float = 60.0
    overrides: Overrides = field(default_factory=Overrides)
    lease_ttl: float = LEASE_TTL
    image_update: bool = False  # before each tick, commit and push what the Images policies pick


class Ticker:
    """Runs ticks for one repository, branch and folder, against the world ``open_world`` opens."""

    def __init__(
        self,
        options: LoopOptions,
        source: Source,
        work_dir: Path,
        *,
        open_world: OpenWorld,
        open_store: OpenStore,
        owner_command: str,
        say: Callable[[str], None],
        on_event: EventSink,
        clock: Callable[[], float] = time.time,
        on_tick: Callable[[Finished], None] = ignore,
        on_plan: Callable[[Planned, Revision], None] = lambda _planned, _revision: None,
    ) -> None:
        self.options = options
        self.source = source
        self.work_dir = work_dir
        self.open_world = open_world
        self.open_store = open_store
        self.owner_command = owner_command
        self.say = say
        self.on_event = on_event
        self.clock = clock
        self.on_tick = on_tick
        self.on_plan = on_plan  # every plan a tick makes, with what it observed (the status page)
        self.settings: Settings | None = None  # of the last revision whose specs loaded

    # ---- checkouts ---------------------------------------------------------------

    def checkout(self, revision: Revision) -> Path:
        """The environment folder of ``revision``, inside a checkout of the commit's whole tree: a
        compose file may include or extend files outside the environment folder (``../shared``),
        and they must be those of the same commit."""
        from reconciler.drivers.git.command import mask_url
        from reconciler.drivers.git.source import normalise_path

        resource = f"repository {mask_url(self.options.repo)}"
        rel = normalise_path(self.options.path, resource=resource)
        dest = self.work_dir / "trees" / revision.sha
        if not dest.is_dir():
            shutil.rmtree(self.work_dir / "checkouts", ignore_errors=True)  # the environment folders alone, before
            self.source.checkout(revision.sha, "", dest)
            self._prune_checkouts(keep=dest)
        folder = dest.joinpath(*rel.split("/")) if rel else dest
        if not folder.is_dir() or folder.is_symlink():
            what = "is not a folder" if os.path.lexists(folder) else "does not exist"
            raise PermanentError(resource, f"path {self.options.path!r} {what} at commit {revision.sha[:12]}")
        return folder

    def _prune_checkouts(self, keep: Path) -> None:
        folders = sorted((p for p in keep.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in folders[:-KEEP_CHECKOUTS]:
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)

    # ---- a tick ------------------------------------------------------------------

    def tick(self, trigger: Trigger, actor: str) -> TickOutcome:
        started = Started(trigger=trigger, actor=actor, at=self.clock())
        try:
            head = self.source.fetch()
            head_dir = self.checkout(head)
        except ReconcilerError as exc:
            return TickOutcome(Result.FAILED, "cannot read the repository", error=str(exc),
                               temporary=isinstance(exc, TemporaryError),
                               cause=Reason.REPOSITORY_UNREACHABLE.value)  # fmt: skip
        try:
            settings = app.environment_settings(head_dir, self.options.overrides)
        except ReconcilerError as exc:
            return self._broken_head(head, exc, started)
        self.settings = settings
        store = self.open_store(settings)
        try:
            with self._hold(store, settings.environment) as beat:
                locked = LockedTick(inputs=self._inputs(), store=store, beat=beat, environment=settings.environment,
                                    started=started)  # fmt: skip
                return summary(locked.run(head, head_dir))
        except LeaseHeld as held:
            return TickOutcome(Result.SKIPPED, "another actor holds the environment", revision=head,
                               environment=settings.environment, error=str(held), temporary=True,
                               cause=Reason.LEASE_HELD.value)  # fmt: skip
        except LeaseLost as lost:
            return TickOutcome(Result.FAILED, "the lease was lost during the tick", revision=head,
                               environment=settings.environment, error=str(lost), temporary=True,
                               cause=Reason.LEASE_LOST.value)  # fmt: skip
        except TemporaryError as exc:
            return TickOutcome(Result.FAILED, "the state store cannot be reached", revision=head,
                               environment=settings.environment, error=str(exc), temporary=True,
                               cause=Reason.STORE_UNREACHABLE.value)  # fmt: skip

    def _inputs(self) -> TickInputs:
        return TickInputs(source=self.source, checkout=self.checkout, open_world=self.open_world,
                          overrides=self.options.overrides, mode=self.options.mode, on_event=self.on_event,
                          clock=self.clock, on_tick=self.on_tick, on_plan=self.on_plan)  # fmt: skip

    def _hold(self, store: StateStore, environment: str) -> AbstractContextManager[Heartbeat]:
        """The environment's lease for one tick (refused at once when someone holds it; taken over at
        once, saying so, when its holder is a process of this machine that is gone)."""
        from reconciler.drivers.state import this_process
        from reconciler.drivers.state.heartbeat import holding

        return holding(store, environment, this_process(self.owner_command), self.options.lease_ttl,
                       on_takeover=lambda previous: self.say(takeover_line(previous)))  # fmt: skip

    def _broken_head(self, head: Revision, exc: ReconcilerError, started: Started) -> TickOutcome:
        """The head commit's specs do not load: a permanent failure of that revision, recorded in
        the store of the last revision that loaded (if any)."""
        reason = f"revision {describe(head)} cannot be applied: its specs are invalid"
        outcome = TickOutcome(Result.FAILED, reason, revision=head, error=str(exc),
                              temporary=isinstance(exc, TemporaryError), cause=Reason.INVALID_SPEC.value)  # fmt: skip
        if self.settings is None:
            return outcome
        store = self.open_store(self.settings)
        env = self.settings.environment
        try:
            with self._hold(store, env) as beat:
                now = self.clock()
                status = store.read_status(env)
                new = invalid_spec_status(status, revision=head, error=str(exc), reason=reason, now=now)
                store.write_status(beat.check(), new)
                last = store.history(env, 1)
                entry = invalid_spec_entry(env, head, error=str(exc), reason=reason, started=started, now=now,
                                           last=last[0] if last else None)  # fmt: skip
                if entry is not None:
                    store.append_history(beat.check(), entry)
            self.on_tick(Finished(environment=env, revision=head, before=status, after=new, started=started.at,
                                  now=now, error=str(exc)))  # fmt: skip
        except ReconcilerError as error:
            self.say(f"could not record the failure of {head.sha[:12]}: {error}")
        return replace(outcome, environment=env)
