"""The sandbox's Auto Scaling: what AWS's groups do by themselves and moto does not. Does I/O (moto, a file, a thread).

The AWS front (:mod:`reconciler.sandbox.front`) hands every request to
Auto Scaling, EC2 and ELBv2 through :class:`AutoScaling`:

- a request that can launch or remove instances (any Auto Scaling action
  but the ``Describe*`` ones, EC2 ``TerminateInstances``) runs inside
  :meth:`~AutoScaling.mutation`, alone: the groups are read before and after
  it, and what moto left undone is done before anyone reads again
  (:meth:`~AutoScaling.reading` waits): an instance launched by it gets its
  launch template version (the group's, ``$Latest``/``$Default`` resolved,
  in DescribeAutoScalingGroups/Instances and EC2's
  ``aws:ec2launchtemplate:version`` tag); with launch hooks on its group
  it is ``Pending:Wait`` (one lifecycle action and token per hook) and out
  of the target groups moto put it in, while EC2 runs it (so the fleet gives
  it an engine); an instance that left its group (terminated, detached,
  scaled in) leaves the group's target groups, as AWS deregisters it.
- ``CompleteLifecycleAction`` (by token or instance id) and
  ``RecordLifecycleActionHeartbeat`` are answered here: ``CONTINUE`` on the
  last hook puts the instance in service and registers it in the target
  groups; ``ABANDON`` terminates it and the group launches another (through
  its hooks again); a heartbeat restarts the timeout, never past the hook's
  global timeout; at the timeout the hook's ``DefaultResult`` applies.
  Errors are ``ValidationError`` as AWS words them. Deleting a hook abandons
  its instances' actions, as AWS does.
- ``SetInstanceHealth`` ``Unhealthy``: the group terminates the instance
  and launches a replacement :data:`REPLACE_AFTER` seconds later (after the
  group's health check grace period since the instance went in service,
  unless ``ShouldRespectGracePeriod=false``); ``Healthy`` again before then
  cancels it.

A thread applies the timeouts and replacements when they fall due (and
sleeps otherwise). What moto does not keep (versions, actions,
replacements: :class:`~.book.Book`) is kept in a JSON file when one is
given. Terminating hooks are stored by moto and not run (no
``Terminating:Wait``); instances launched by a request that reached moto
without the front get the defaults.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.sandbox import moto
from reconciler.sandbox.asg import book as books
from reconciler.sandbox.asg import groups, query, rewrite
from reconciler.sandbox.asg.book import ABANDON, RESULTS, Book, LifecycleAction
from reconciler.sandbox.asg.groups import GroupState
from reconciler.sandbox.asg.query import AUTOSCALING, EC2, ELBV2, AwsRequest
from reconciler.sandbox.layout import REGION

REPLACE_AFTER = 1.0  # seconds from Unhealthy to its replacement (AWS: "within a few seconds" to minutes)
OWN = frozenset({"CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"})
Events = Callable[[str], None]


class SharedLock:
    """Many readers or one writer; a waiting writer goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


@dataclass
class Outcome:
    """What the front got from moto for a mutation (set inside :meth:`AutoScaling.mutation`)."""

    status: int = 0


def is_mutation(req: AwsRequest) -> bool:
    if req.service == AUTOSCALING:
        return not req.action.startswith("Describe") and req.action not in OWN
    return req.service == EC2 and req.action == "TerminateInstances"


def _tokens() -> Iterator[str]:
    return (str(uuid.uuid4()) for _ in itertools.count())


class AutoScaling:
    def __init__(self, moto_url: str, state: Path | None, on_event: Events,
                 now: Callable[[], float] = time.time, replace_after: float = REPLACE_AFTER) -> None:  # fmt: skip
        self.moto_url, self.state, self.on_event, self.now = moto_url, state, on_event, now
        self.replace_after = replace_after
        self.lock = SharedLock()
        self.book = books.decode(state.read_text()) if state is not None and state.is_file() else Book()
        self._clients: dict[str, moto.MotoClients] = {}
        self._exits = contextlib.ExitStack()
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="autoscaling", daemon=True)

    # -- the front's entry points ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._exits.close()

    def handles(self, req: AwsRequest | None) -> bool:
        return req is not None and req.service in (AUTOSCALING, EC2, ELBV2)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self.lock.shared():
            yield

    @contextlib.contextmanager
    def mutation(self, req: AwsRequest) -> Iterator[Outcome]:
        """Run the request alone (the caller forwards it to moto), then do what the group does after it."""
        outcome = Outcome()
        region = req.region or REGION
        with self.lock.exclusive():
            c = self._client(region)
            before = self._snapshot(c)
            try:
                yield outcome
            finally:
                if before is not None:
                    after = self._settle(c, region, before)
                    if outcome.status == 200 and after is not None:
                        self._after(c, region, req, after)
        self._poke()

    def described(self, req: AwsRequest, body: bytes) -> bytes:
        """An answer as AWS gives it (DescribeAutoScalingGroups/Instances); others as they came."""
        if req.service != AUTOSCALING or req.action not in rewrite.DESCRIBES:
            return body
        return rewrite.rewrite(body, self.book.waiting(), self.book.versions)

    def own(self, req: AwsRequest) -> tuple[int, bytes]:
        """CompleteLifecycleAction or RecordLifecycleActionHeartbeat: (HTTP status, body)."""
        group, hook = req.get("AutoScalingGroupName"), req.get("LifecycleHookName")
        token, instance_id = req.get("LifecycleActionToken"), req.get("InstanceId")
        result = req.get("LifecycleActionResult")
        if req.action == "CompleteLifecycleAction" and result not in RESULTS:
            return 400, query.error("ValidationError", f"Invalid LifecycleActionResult {result!r}: "
                                                       "valid values are CONTINUE and ABANDON")  # fmt: skip
        if not token and not instance_id:
            return 400, query.error("ValidationError", "Either LifecycleActionToken or InstanceId must be given")
        region = req.region or REGION
        with self.lock.exclusive():
            action = self.book.find(group, hook, token, instance_id)
            if action is None:
                said = f"token {token}" if token else f"instance ID {instance_id}"
                return 400, query.error("ValidationError", f"No active Lifecycle Action found with {said}")
            if req.action == "RecordLifecycleActionHeartbeat":
                self._keep(books.heartbeat(self.book, action, self.now()))
            else:
                self._complete(self._client(region), region, action, result, "completed")
        self._poke()
        return 200, query.answer(req.action)

    # -- what the group does by itself ------------------------------------------------------------------

    def _client(self, region: str) -> moto.MotoClients:
        if region not in self._clients:
            self._clients[region] = self._exits.enter_context(moto.clients(self.moto_url, region))
        return self._clients[region]

    def _snapshot(self, c: moto.MotoClients) -> dict[str, GroupState] | None:
        try:
            return groups.snapshot(c)
        except Exception as e:  # moto down or restarting: the request goes on as moto answers it
            self.on_event(f"auto scaling: could not read the groups ({type(e).__name__}: {e})")
            return None

    def _settle(self, c: moto.MotoClients, region: str, before: dict[str, GroupState]) -> dict[str, GroupState] | None:
        """Launches get their version and hooks (out of the target groups), departures leave them."""
        try:
            after = groups.snapshot(c)
            book, now = self.book, self.now()
            for name, group in sorted(after.items()):
                new = group.members - (before[name].members if name in before else frozenset())
                if not new:
                    continue
                version, hooks = groups.resolve(c, group), groups.launch_hooks(c, name)
                groups.tag_version(c, new, version)
                book = books.launched(book, name, sorted(new), version, hooks, _tokens(), now, region)
                held = f"Pending:Wait for {', '.join(h[0] for h in hooks)}" if hooks else "InService"
                self.on_event(f"auto scaling: {name} launched {', '.join(sorted(new))} on version {version or '-'}: "
                              f"{held}")  # fmt: skip
            for name, group in sorted(before.items()):
                gone = group.members - (after[name].members if name in after else frozenset())
                if gone:
                    left = groups.deregister(c, group.target_groups, gone)
                    book = books.forget(book, gone)
                    if left:
                        self.on_event(f"auto scaling: {name} deregistered {', '.join(left)} (left the group)")
            waiting = book.waiting()
            for group in after.values():
                groups.deregister(c, group.target_groups, waiting & group.members)
            self._keep(book)
            return after
        except Exception as e:
            self.on_event(f"auto scaling: could not settle the groups ({type(e).__name__}: {e})")
            return None

    def _after(self, c: moto.MotoClients, region: str, req: AwsRequest, after: dict[str, GroupState]) -> None:
        """What a successful request starts: a replacement, abandoned actions."""
        if req.action == "SetInstanceHealth":
            instance_id = req.get("InstanceId")
            group = next((g for g in after.values() if instance_id in g.members), None)
            if group is None:
                return
            at: float | None = None
            if req.get("HealthStatus") == "Unhealthy":
                at = self.now() + self.replace_after
                since = self.book.in_service.get(instance_id)
                if req.flag("ShouldRespectGracePeriod", True) and since is not None:
                    at = max(at, since + group.grace)
            self._keep(books.unhealthy(self.book, instance_id, at, region))
        elif req.action == "DeleteLifecycleHook":
            for action in [a for a in self.book.actions if a.group == req.get("AutoScalingGroupName")
                           and a.hook == req.get("LifecycleHookName")]:  # fmt: skip
                self._complete(c, region, action, ABANDON, "its hook deleted")

    def _complete(self, c: moto.MotoClients, region: str, action: LifecycleAction, result: str, why: str) -> None:
        """The action ends with ``result`` (the lock held)."""
        self._keep(books.completed(self.book, action, self.now()))
        if result == ABANDON:
            self.on_event(f"auto scaling: {action.instance_id} {action.hook} {why}: ABANDON, terminated")
            self._terminate(c, region, action.instance_id)
        elif action.instance_id not in self.book.waiting():
            group = groups.snapshot(c).get(action.group)
            if group is not None and action.instance_id in group.members:
                groups.register(c, group.target_groups, action.instance_id)
            self.on_event(f"auto scaling: {action.instance_id} {action.hook} {why}: CONTINUE, in service")

    def _terminate(self, c: moto.MotoClients, region: str, instance_id: str) -> None:
        before = self._snapshot(c)
        if before is None or not any(instance_id in g.members for g in before.values()):
            self._keep(books.forget(self.book, [instance_id]))
            return
        groups.terminate(c, instance_id)
        self._settle(c, region, before)

    def _keep(self, book: Book) -> None:
        if book == self.book:
            return
        self.book = book
        if self.state is not None:
            temporary = self.state.with_name(f".{self.state.name}.tmp")
            temporary.write_text(books.encode(book))
            temporary.replace(self.state)

    # -- the clock ----------------------------------------------------------------------------------------

    def _poke(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def tick(self) -> None:
        """Apply what fell due: default results of timed-out actions, replacements of Unhealthy instances."""
        with self.lock.exclusive():
            now = self.now()
            for action in [a for a in self.book.actions if a.deadline <= now]:
                if action in self.book.actions:
                    region = self.book.regions.get(action.instance_id, REGION)
                    self._complete(self._client(region), region, action, action.default_result,
                                   "heartbeat timeout")  # fmt: skip
            for instance_id, at in sorted(self.book.replacing.items()):
                if at <= now and instance_id in self.book.replacing:
                    region = self.book.regions.get(instance_id, REGION)
                    self.on_event(f"auto scaling: {instance_id} is Unhealthy: terminated and replaced")
                    self._keep(books.unhealthy(self.book, instance_id, None, region))
                    self._terminate(self._client(region), region, instance_id)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                due = self.book.next_due()
                wait = None if due is None else max(0.0, due - self.now())
                if wait is None or wait > 0:
                    self._wake.wait(wait)
                if self._stop:
                    return
            due = self.book.next_due()
            if due is not None and due <= self.now():
                try:
                    self.tick()
                except Exception as e:  # moto down: try again at the next wake-up
                    self.on_event(f"auto scaling: {type(e).__name__}: {e}")
                    with self._wake:
                        self._wake.wait(1.0)
