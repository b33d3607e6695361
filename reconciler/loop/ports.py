"""What a tick is given: the git source, what opens an environment's world, the state store.
Pure (protocols only).

The :class:`~reconciler.loop.tick.Ticker` depends on these and on nothing
that builds a client: ``reconciler.loop.run`` wires the real ones (the git
mirror, :func:`reconciler.app.open_environment`, the environment's state
store), and a test gives fakes (kustomize-controller's reconcile takes its
client the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from reconciler.app.reconcile import Context
from reconciler.app.settings import Overrides, Settings
from reconciler.core.events import EventSink
from reconciler.core.model import DesiredState
from reconciler.core.observed import ObservedState
from reconciler.core.plan import Plan
from reconciler.state import Revision, StateStore


class Source(Protocol):
    """Where the specs come from (the git mirror of ``reconciler.loop.GitRevisions``)."""

    def fetch(self) -> Revision: ...
    def revision(self, sha: str) -> Revision: ...
    def checkout(self, sha: str, path: str, dest: Path) -> Path: ...


class Planned(Protocol):
    """A plan with what it was made from (``reconciler.app.PlanResult``): the status page shows
    per host and stack what was observed."""

    @property
    def plan(self) -> Plan: ...
    @property
    def desired(self) -> DesiredState: ...
    @property
    def observed(self) -> ObservedState: ...


class World(Context, Protocol):
    """One environment's world, opened: plan, re-check, apply (the reconcile flow's
    :class:`~reconciler.app.reconcile.Context`), its settings, and close."""

    def plan(self) -> Planned: ...

    @property
    def settings(self) -> Settings: ...

    def close(self) -> None: ...


class OpenWorld(Protocol):
    """Opens the world of the environment folder ``env_dir`` (``reconciler.app.open_environment``);
    ``read_only``: every mutating call is refused (plan mode); ``unreachable_before``: instance id ->
    the ticks in a row its engine was unreachable, as the status remembers them."""

    def __call__(
        self, env_dir: Path, overrides: Overrides, *, read_only: bool, on_event: EventSink,
        unreachable_before: Mapping[str, int] | None = None,
    ) -> World: ...  # fmt: skip


OpenStore = Callable[[Settings], StateStore]

__all__ = ["OpenStore", "OpenWorld", "Planned", "Source", "World"]
