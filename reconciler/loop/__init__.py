"""The GitOps loop (``reconciler run``): git is the source, every tick makes the world match
the branch head (or the pinned revision). Composition only: it wires the real git source, world
and state store into the parts, :mod:`.tick` (one tick, given :mod:`.ports`), :mod:`.locked`
(its part under the lease), :mod:`.decide` (act or report, and why), :mod:`.outcome` (what a
tick did, and its history), :mod:`.conditions` (the status) and :mod:`.runner` (waiting,
backoff, wake-ups).

Wake-ups: the refs of a repository given by its path are watched (a commit starts a tick
at once; a URL, file:// included, is polled like a remote), and
``--listen`` serves the status page (``/``, ``/api/status``: :mod:`.board`), signed
GitHub-style push webhooks, /healthz, /readyz and /metrics (:mod:`.serving`).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from reconciler.app.settings import Settings
from reconciler.core.errors import PermanentError
from reconciler.core.events import Event, EventSink
from reconciler.core.notices import Destination
from reconciler.loop.board import Board, BoardSource
from reconciler.loop.outcome import TickOutcome
from reconciler.loop.runner import Loop
from reconciler.loop.serving import ServeOptions, check_access, start_listener, then_idle
from reconciler.loop.subscribers import Subscribers
from reconciler.loop.tick import LoopOptions, Ticker
from reconciler.loop.watchdog import Progress, Watchdog
from reconciler.state import Revision, StateStore, Trigger

if TYPE_CHECKING:
    from reconciler.drivers.git.source import Revision as GitRevision
    from reconciler.loop.ports import Planned
    from reconciler.notify import Notifier
    from reconciler.serve import LoopMetrics

__all__ = ["LoopOptions", "ServeOptions", "TickOutcome", "run"]


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

    auth = check_access(serve)  # before anything starts: a missing token or an exposed page is an error now
    folder = work_dir(state_dir, options)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    source = GitRevisions(options.repo, options.branch, folder / "mirror")
    where = f"{options.repo}#{options.branch}:{options.path or '.'}"
    from reconciler.serve import loop_metrics

    metrics = loop_metrics()
    holder: list[Ticker] = []
    notifier = _notifier(lambda: holder[0].settings if holder else None, say, metrics)

    def destinations() -> tuple[Destination, ...]:
        settings = holder[0].settings if holder else None
        return settings.notifications if settings is not None else ()

    subscribers = Subscribers(repo=options.repo, say=say, notifier=notifier, metrics=metrics,
                              destinations=destinations)  # fmt: skip

    progress = Progress()
    board_holder: list[Board] = []

    def events(event: Event) -> None:
        progress.beat()
        on_event(event)
        subscribers.on_event(event)
        for board in board_holder:
            board.on_event(event)

    def planned(plan: Planned, revision: Revision) -> None:
        for board in board_holder:
            board.on_plan(plan, revision)

    ticker = Ticker(options, source, folder, open_world=open_environment, open_store=open_state_store,
                    owner_command=f"reconciler run {where}", say=say, on_event=events,
                    on_tick=subscribers.on_tick, on_plan=planned)  # fmt: skip
    holder.append(ticker)
    metrics.watch_lease(_lease_holder(ticker, open_state_store))
    actor = f"loop@{socket.gethostname()}"
    from reconciler.drivers.systemd import Notifier as Systemd

    systemd = Systemd()
    tick = _with_image_updates(ticker.tick, options, folder / "images", say) if options.image_update else ticker.tick
    tick = then_idle(tick, board_holder)
    loop = Loop(tick, interval=options.interval, actor=actor, say=say, metrics=metrics, progress=progress,
                on_line=systemd.status)  # fmt: skip
    if serve.listen is not None:
        from reconciler.drivers.git.command import mask_url

        board_holder.append(Board(BoardSource(mask_url(options.repo), options.branch, options.path, options.mode,
                                              options.interval), loop.state,
                                  settings=lambda: ticker.settings, open_store=open_state_store, say=say))  # fmt: skip
    if once:
        try:
            return loop.run(once=True)
        finally:
            notifier.close(timeout=serve.drain_seconds)
    stop_watch = threading.Event()
    # a repository given by path is watched; a URL (file:// included) is polled, as a remote is
    threads = [None if "://" in options.repo else _watch(source, loop, stop_watch, say)]
    board = board_holder[0] if board_holder else None
    listener = start_listener(serve, options, loop, say, metrics.render, board, auth)
    previous = {sig: signal.signal(sig, _stopper(loop)) for sig in (signal.SIGTERM, signal.SIGINT)}
    say(f"watching {where} every {options.interval:g}s ({options.mode} mode)")
    watchdog = Watchdog(systemd, progress).start()
    systemd.ready(f"watching {where}")
    try:
        return loop.run()
    finally:
        systemd.stopping()
        watchdog.close()
        stop_watch.set()
        if listener is not None:
            listener.stop()
        for thread in threads:
            if thread is not None:
                thread.join(timeout=2)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        notifier.close(timeout=serve.drain_seconds)


def _notifier(settings: Callable[[], Settings | None], say: Callable[[str], None], metrics: LoopMetrics) -> Notifier:
    """The notification queues: webhooks through one HTTP session, SNS and CloudWatch in the
    region (and endpoint) of the revision's settings."""
    from reconciler.drivers.notify import AwsSender, WebhookSender
    from reconciler.notify import Notifier
    from reconciler.notify.delivery import Delivery

    senders: dict[tuple[str, str | None], AwsSender] = {}

    def aws() -> AwsSender:
        current = settings()
        if current is None or current.region is None:
            raise PermanentError("notifications", "the environment has no aws section (region)")
        key = (current.region, current.aws_endpoint_url)
        if key not in senders:
            senders[key] = AwsSender(*key)
        return senders[key]

    delivery = Delivery(webhooks=WebhookSender(), aws=aws, getenv=os.environ.get)
    return Notifier(delivery, say=say, count=metrics.delivered)


def _lease_holder(ticker: Ticker, open_store: Callable[[Settings], StateStore]) -> Callable[[], tuple[str, str] | None]:
    """Who holds the environment's lease (read on a scrape, cached by the metrics)."""
    stores: dict[tuple[object, ...], StateStore] = {}

    def holder() -> tuple[str, str] | None:
        settings = ticker.settings
        if settings is None:
            return None
        key = (settings.environment, settings.state_store, settings.state_dir, settings.region,
               settings.aws_endpoint_url)  # fmt: skip
        if key not in stores:
            stores.clear()
            stores[key] = open_store(settings)
        lease = stores[key].holder(settings.environment)
        return (settings.environment, lease.owner.describe()) if lease is not None else None

    return holder


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
