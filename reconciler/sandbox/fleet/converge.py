"""Instance engines converged to moto's instances: one engine per instance that runs, none for the others. Does I/O.

:func:`engines` compares the groups' instances (:mod:`.view`) with the
fleet's namespaces on this machine: the namespace of an instance moto no
longer runs (terminated, scaled in, or forgotten by a restarted moto) is
removed first -- moto hands a terminated instance's address to the next one
-- then the missing engines start in parallel, each in its own thread.
One convergence at a time per state dir (a lock file), so ``sandbox up`` and
the agent never make the same namespace twice. A failure to start one engine
is reported and retried by the next call; it never stops the others.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.fleet import instance, netns
from reconciler.sandbox.fleet.layout import NETNS_PREFIX, FleetFiles, InstanceEngine
from reconciler.sandbox.fleet.view import GroupView
from reconciler.sandbox.processes import Clock


@dataclass(frozen=True)
class Converged:
    started: tuple[str, ...] = ()  # instance ids whose engine this call started
    stopped: tuple[str, ...] = ()  # instance ids whose engine this call removed
    failed: tuple[str, ...] = ()  # "<instance id>: <why>"


@contextlib.contextmanager
def locked(files: FleetFiles) -> Iterator[None]:
    files.root.mkdir(parents=True, exist_ok=True)
    with open(files.converge_lock, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def wanted(views: Iterable[GroupView]) -> dict[str, InstanceEngine]:
    """The engines the groups' running instances should have, by instance id. Pure."""
    return {
        i.instance_id: InstanceEngine(i.instance_id, i.private_ip)
        for view in views
        for i in view.instances
        if i.has_engine
    }


def engines(
    files: FleetFiles,
    views: Iterable[GroupView],
    registry_port: int,
    clock: Clock,
    on_event: Callable[[str], None],
) -> Converged:
    """Remove the engines of instances that no longer run, start the missing ones (in parallel)."""
    want = wanted(views)
    with locked(files):
        present = {name.removeprefix(NETNS_PREFIX) for name in netns.namespaces()}
        stopped = []
        for instance_id in sorted(present - set(want)):
            instance.stop(files, InstanceEngine(instance_id, ""), clock)
            on_event(f"fleet: instance {instance_id} is gone: its engine removed")
            stopped.append(instance_id)
        missing = [e for i, e in sorted(want.items()) if i not in present or not instance.running(files, e)]
        if not missing:
            return Converged(stopped=tuple(stopped))

        def start(engine: InstanceEngine) -> str | None:
            try:
                instance.start(files, engine, registry_port, clock)
            except ReconcilerError as e:
                return f"{engine.instance_id}: {e}"
            return None

        with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            outcomes = list(pool.map(start, missing))
    started, failed = [], []
    for engine, failure in zip(missing, outcomes, strict=True):
        if failure is None:
            started.append(engine.instance_id)
            on_event(f"fleet: instance {engine.instance_id} ({engine.private_ip}): engine at {engine.docker_url}")
        else:
            failed.append(failure)
            on_event(f"fleet: instance {failure} (retried at the next look)")
    return Converged(tuple(started), tuple(stopped), tuple(failed))
