"""The status board behind the page (``/``) and ``/api/status``: what the loop knows, put together
on request. Does I/O only through what it is given (the state store it opens, the clock).

It subscribes, like the metrics and the notifications, to what the loop already tells: every
event is folded into a live :class:`~reconciler.core.progress.Progress` (the executor knows
nothing of the page), every plan a tick makes becomes an
:class:`~reconciler.render.page.Observation` (per host and stack what runs and whether it
matches, the plan's summary), and the end of a tick resets the progress. A request reads the
environment's status, history and lease from its state store (opened once per settings, as the
metrics' lease holder is; a read serves the requests of the next second, and a tick's end
clears it) and renders the page or the JSON. A store that cannot be read is shown as such; the
page never fails because of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.app.settings import Settings
from reconciler.core.events import Event
from reconciler.core.progress import Progress, advance, idle
from reconciler.loop.outcome import Finished
from reconciler.loop.ports import OpenStore, Planned
from reconciler.loop.runner import LoopState
from reconciler.render.page import LoopView, Observation, StatusView, github_url, observation, render_page, status_json
from reconciler.render.page.document import status_document
from reconciler.state import EnvironmentStatus, HistoryEntry, Revision, StateStore

HISTORY = 200  # entries the page and the JSON show (newest first); ?history=N asks for up to MAX_HISTORY
MAX_HISTORY = 1000
STORE_CACHE = 1.0  # seconds a store read serves other requests (several viewers, DynamoDB); a tick's end clears it

Read = tuple[EnvironmentStatus, list[HistoryEntry], str | None, str | None]  # status, history, lease holder, error


@dataclass(frozen=True)
class BoardSource:
    """What the board shows of the loop itself."""

    repository: str  # credentials already masked
    branch: str
    path: str
    mode: str
    interval: float


class Board:
    def __init__(
        self,
        source: BoardSource,
        state: LoopState,
        *,
        settings: Callable[[], Settings | None],
        open_store: OpenStore,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.state = state
        self.settings = settings
        self.open_store = open_store
        self.say = say
        self.clock = clock
        self._lock = threading.Lock()
        self._progress = idle()
        self._observation: Observation | None = None
        self._stores: dict[tuple[object, ...], StateStore] = {}
        self._reads: dict[tuple[object, ...], tuple[float, Read]] = {}
        self._url = github_url(source.repository)

    # ---- subscribed to the loop -----------------------------------------------------------

    def on_event(self, event: Event) -> None:
        with self._lock:
            self._progress = advance(self._progress, event, self.clock())

    def on_plan(self, planned: Planned, revision: Revision) -> None:
        try:
            from reconciler.planner import expand_fleets

            desired = expand_fleets(planned.desired, planned.observed.fleets)  # a fleet's instances are its hosts
            seen = observation(planned.plan, desired, planned.observed, planned_at=self.clock(), revision=revision.sha)
        except Exception as exc:  # the page shows less; the tick goes on
            self.say(f"status page: the plan could not be summarised: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._observation = seen

    def on_tick(self, _finished: Finished) -> None:
        self.tick_over()

    def tick_over(self) -> None:
        with self._lock:
            self._progress = idle(self.clock())
            self._reads.clear()

    # ---- read by the listener -------------------------------------------------------------

    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def view(self, history: int = HISTORY) -> StatusView:
        with self._lock:
            progress, seen = self._progress, self._observation
        ready, readiness = self.state.readiness()
        with self.state.lock:
            ticks, running = self.state.ticks, self.state.running
        loop = LoopView(self.source.repository, self.source.branch, self.source.path, self.source.mode,
                        self.source.interval, ticks, running, ready, readiness)  # fmt: skip
        view = StatusView(generated_at=self.clock(), loop=loop, progress=progress, observation=seen,
                          repository_url=self._url)  # fmt: skip
        settings = self.settings()
        if settings is None:
            return view
        status, entries, holder, error = self._read(settings, max(0, min(history, MAX_HISTORY)))
        if seen is not None and seen.plan.environment != settings.environment:
            seen = None
        return StatusView(generated_at=view.generated_at, loop=loop, progress=progress, status=status,
                          history=tuple(entries), observation=seen, lease_holder=holder, store_error=error,
                          repository_url=self._url)  # fmt: skip

    def _read(self, settings: Settings, limit: int) -> Read:
        env = settings.environment
        key = (env, settings.state_store, settings.state_dir, settings.region, settings.aws_endpoint_url)
        now = self.clock()
        with self._lock:
            cached = self._reads.get((*key, limit))
        if cached is not None and 0 <= now - cached[0] < STORE_CACHE:
            return cached[1]
        found = self._read_store(settings, key, limit)
        with self._lock:
            self._reads[(*key, limit)] = (now, found)
        return found

    def _read_store(self, settings: Settings, key: tuple[object, ...], limit: int) -> Read:
        env = settings.environment
        try:
            with self._lock:
                store = self._stores.get(key)
                if store is None:
                    self._stores.clear()
                    store = self._stores[key] = self.open_store(settings)
            lease = store.holder(env)
            return (store.read_status(env), store.history(env, limit) if limit else [],
                    lease.owner.describe() if lease is not None else None, None)  # fmt: skip
        except Exception as exc:  # shown on the page: the store is unreachable, the page is not
            return EnvironmentStatus(env), [], None, f"{type(exc).__name__}: {exc}"

    def page(self, history: int = HISTORY) -> str:
        return render_page(status_document(self.view(history)))

    def api(self, history: int = HISTORY) -> str:
        return status_json(self.view(history))


__all__ = ["HISTORY", "MAX_HISTORY", "STORE_CACHE", "Board", "BoardSource"]
