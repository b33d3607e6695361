"""The GitOps loop (``reconciler run``): git is the source, every tick makes the world match
the branch head (or the pinned revision). Composition only: it wires the real git source, world
and state store into the parts, :mod:`.tick` (one tick, given :mod:`.ports`), :mod:`.locked`
(its part under the lease), :mod:`.decide` (act or report, and why), :mod:`.outcome` (what a
tick did, and its history), :mod:`.conditions` (the status) and :mod:`.runner` (waiting,
backoff, wake-ups).

Wake-ups: the refs of a repository given by its path are watched (a commit starts a tick
at once; a URL, file:// included, is polled like a remote), and
``--listen`` serves signed GitHub-style push webhooks plus /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from reconciler.core.events import EventSink
from reconciler.loop.outcome import TickOutcome
from reconciler.loop.runner import Loop
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.state import Revision, Trigger

if TYPE_CHECKING:
    from reconciler.drivers.git.source import Revision as GitRevision
    from reconciler.serve import Listener, Push

__all__ = ["LoopOptions", "ServeOptions", "TickOutcome", "run"]


@dataclass(frozen=True)
class ServeOptions:
    listen: str | None = None  # "127.0.0.1:9090"; None: no listener
    secret_env: str = "RECONCILER_WEBHOOK_SECRET"


class GitRevisions:
    """The git source as the loop sees it (revisions as the state store records them)."""

    def __init__(self, url: str, branch: str, cache_dir: Path) -> None:
        from reconciler.drivers.git.source import GitSource

        self.git = GitSource(url, branch, cache_dir)

    @staticmethod
    def _revision(found: GitRevision) -> Revision:
        return Revision(found.sha, found.author, found.subject, found.committed_at)

    def fetch(self) -> Revision:
        return self._revision(self.git.fetch())

    def revision(self, sha: str) -> Revision:
        return self._revision(self.git.revision(sha))

    def checkout(self, sha: str, path: str, dest: Path) -> Path:
        return self.git.checkout(sha, path, dest)

    def watch_paths(self) -> list[Path]:
        return self.git.watch_paths()


def work_dir(state_dir: Path, options: LoopOptions) -> Path:
    """The loop's private folder for one repository, branch and path."""
    key = hashlib.sha256(f"{options.repo}\n{options.branch}\n{options.path}".encode()).hexdigest()[:16]
    return state_dir / "loop" / key


def run(
    options: LoopOptions,
    serve: ServeOptions,
    *,
    state_dir: Path,
    once: bool,
    say: Callable[[str], None],
    on_event: EventSink,
) -> int:
    """Run the loop until stopped (or one tick with ``once``); the exit code."""
    from reconciler.app import open_environment
    from reconciler.app.statestore import open_state_store

    folder = work_dir(state_dir, options)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = GitRevisions(options.repo, options.branch, folder / "mirror")
    where = f"{options.repo}#{options.branch}:{options.path or '.'}"
    ticker = Ticker(options, source, folder, open_world=open_environment, open_store=open_state_store,
                    owner_command=f"reconciler run {where}", say=say, on_event=on_event)  # fmt: skip
    actor = f"loop@{socket.gethostname()}"
    from reconciler.serve import loop_metrics

    metrics = loop_metrics()
    tick = _with_image_updates(ticker.tick, options, folder / "images", say) if options.image_update else ticker.tick
    loop = Loop(tick, interval=options.interval, actor=actor, say=say, metrics=metrics)
    if once:
        return loop.run(once=True)
    stop_watch = threading.Event()
    # a repository given by path is watched; a URL (file:// included) is polled, as a remote is
    threads = [None if "://" in options.repo else _watch(source, loop, stop_watch, say)]
    listener = _listener(serve, options, loop, say, metrics.render)
    previous = {sig: signal.signal(sig, _stopper(loop)) for sig in (signal.SIGTERM, signal.SIGINT)}
    say(f"watching {where} every {options.interval:g}s ({options.mode} mode)")
    try:
        return loop.run()
    finally:
        stop_watch.set()
        if listener is not None:
            listener.stop()
        for thread in threads:
            if thread is not None:
                thread.join(timeout=2)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _with_image_updates(
    tick: Callable[[Trigger, str], TickOutcome], options: LoopOptions, folder: Path, say: Callable[[str], None]
) -> Callable[[Trigger, str], TickOutcome]:
    """``tick`` preceded by a round of image updates pushed to the branch (``--image-update``); a round
    that fails is said and the tick goes on (it deploys what the branch has)."""
    from reconciler.app.imageloop import ImageLoop
    from reconciler.core.errors import ReconcilerError

    updates = ImageLoop(options.repo, options.branch, options.path, options.overrides, folder,
                        dry_run=options.mode == "plan")  # fmt: skip

    def with_updates(trigger: Trigger, actor: str) -> TickOutcome:
        try:
            for line in updates.update():
                say(f"image update: {line}")
        except ReconcilerError as exc:
            say(f"image update failed: {exc}")
        return tick(trigger, actor)

    return with_updates


def _stopper(loop: Loop) -> Callable[[int, FrameType | None], None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop()

    return stop


def _watch(
    source: GitRevisions, loop: Loop, stop: threading.Event, say: Callable[[str], None]
) -> threading.Thread | None:
    paths = source.watch_paths()
    if not paths:
        return None
    from reconciler.drivers.git.watch import watch

    def changed(_paths: frozenset[Path]) -> None:
        loop.wake(Trigger.WATCH, "a new commit in the local repository")

    def body() -> None:
        try:
            watch(paths, stop, changed)
        except Exception as exc:  # the loop still polls
            say(f"watching the local repository stopped: {type(exc).__name__}: {exc}; polling goes on")

    thread = threading.Thread(target=body, name="reconciler-watch", daemon=True)
    thread.start()
    return thread


def _listener(
    serve: ServeOptions, options: LoopOptions, loop: Loop, say: Callable[[str], None], metrics: Callable[[], str]
) -> Listener | None:
    if serve.listen is None:
        return None
    from reconciler.serve import Listener

    secret = os.environ.get(serve.secret_env, "").encode()
    if not secret:
        say(f"webhook: {serve.secret_env} is not set: pushes are refused (401); /healthz and /readyz still answer")

    def pushed(push: Push) -> None:
        loop.wake(Trigger.WEBHOOK, f"push of {push.sha[:12]} by {push.pusher or 'someone'}")

    listener = Listener(serve.listen, secret=secret or None, branch=options.branch, on_push=pushed,
                        readiness=loop.state.readiness, metrics=metrics, log=say)  # fmt: skip
    listener.start()  # it says where it listens
    return listener
