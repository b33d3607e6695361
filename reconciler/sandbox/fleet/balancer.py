"""The load balancer follows the target groups' registrations in moto, as an ALB does. Does I/O (HAProxy's runtime API).

Each poll, :meth:`Follower.follow` compares the registered targets moto lists
(:mod:`.view`) with the servers HAProxy has (:class:`~.haproxy.Runtime`);
what HAProxy has is the state, so a restarted agent picks up where it was.
A difference is applied once it has lasted :data:`~.layout.PROPAGATION_DELAY`
(an ALB takes a moment too):

- registered: the server is added with weight 0 (HAProxy enables a server UP,
  its health at ``rise``), its health checks enabled, enabled, marked down, then
  given its weight -- it gets requests only after ``rise`` (the target group's
  healthy threshold) successful checks of ``GET <health path>`` on the
  instance's address, at the target group's interval, like an ALB's
  ``initial`` state; ``fall`` failed ones take it out again; a draining
  server registered again is marked down, then made ready;
- deregistered (or terminated): the server drains -- no new requests, the
  in-flight ones finish -- and is deleted once it has no session left or the
  target group's deregistration delay has passed (its sessions are then cut,
  as an ALB does).

A server whose instance changed address is replaced. Each step also writes
the follower's declaration (:mod:`.followed`): the target group it follows
and, per server, HAProxy's count of UP -> DOWN transitions right after its
registration, which the AWS front needs to tell ``initial`` from
``unhealthy`` (:mod:`.target_health`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.sandbox.fleet import followed, haproxy
from reconciler.sandbox.fleet.layout import GROUP, PROPAGATION_DELAY, FleetFiles
from reconciler.sandbox.fleet.view import GroupView, Target, TargetGroupView
from reconciler.sandbox.processes import Clock


@dataclass
class Follower:
    """Applies registration changes to HAProxy after the propagation delay; drains and deletes."""

    files: FleetFiles
    lb_port: int
    clock: Clock
    runtime: haproxy.Runtime = field(default_factory=haproxy.Runtime)
    delay: float = PROPAGATION_DELAY
    declarations: Path | None = followed.DECLARATIONS  # where it declares what it follows (None: nowhere)
    name: str = followed.FLEET  # its declaration's name
    _baselines: dict[str, int] | None = None  # server -> down transitions right after its registration
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)  # (server, wanted state) -> first seen
    _draining: dict[str, float] = field(default_factory=dict)  # server -> when its drain began

    def _due(self, server: str, state: str) -> bool:
        """The difference (server should be ``state``) has lasted the propagation delay."""
        now = self.clock.now()
        since = self._seen.setdefault((server, state), now)
        return now - since >= self.delay

    def follow(self, views: Iterable[GroupView], on_event: Callable[[str], None]) -> None:
        """One step towards the registrations moto has now."""
        groups = [tg for view in views for tg in view.target_groups if tg.name == GROUP.target_group]
        if not groups:
            return  # the group or its target group is gone (moto restarting): leave the balancer as it is
        haproxy.ensure(self.files, GROUP, self.lb_port, self.clock)
        self.apply(groups[0], on_event)

    def apply(self, tg: TargetGroupView, on_event: Callable[[str], None]) -> None:
        """One step of the target group's registrations onto HAProxy's servers (no process started)."""
        backend = tg.name
        have = self.runtime.servers(backend)
        want: dict[str, Target] = {t.instance_id: t for t in tg.registered if t.in_service}
        pending: set[tuple[str, str]] = set()
        registered: list[str] = []
        for name, target in want.items():
            address = f"{target.address}:{target.port}"
            server = have.get(name)
            if server is not None and not server.draining and server.address == address:
                continue
            pending.add((name, "registered"))
            if not self._due(name, "registered"):
                continue
            if server is not None and server.address != address:
                self._delete(backend, name)
                server = None
            if server is None:
                options = haproxy.server_options(tg.interval, tg.healthy_threshold, tg.unhealthy_threshold)
                self.runtime.must(f"add server {backend}/{name} {address} {options}")
                self.runtime.must(f"enable health {backend}/{name}")
                self.runtime.must(f"enable server {backend}/{name}")
                self.runtime.must(f"set server {backend}/{name} health down")  # in service after `rise` checks
                self.runtime.must(f"set server {backend}/{name} weight 1")
            else:
                self.runtime.must(f"set server {backend}/{name} health down")
                self.runtime.must(f"set server {backend}/{name} state ready")
            registered.append(name)
            self._draining.pop(name, None)
            on_event(f"load balancer: {name} ({address}) registered; in service once its health checks pass")
        for name, server in have.items():
            if name in want:
                continue
            if not server.draining:
                pending.add((name, "deregistered"))
                if not self._due(name, "deregistered"):
                    continue
                self.runtime.must(f"set server {backend}/{name} state drain")
                self._draining[name] = self.clock.now()
                on_event(f"load balancer: {name} ({server.address}) deregistered; draining")
                continue
            began = self._draining.setdefault(name, self.clock.now())
            expired = self.clock.now() - began >= tg.deregistration_delay
            if server.sessions == 0 or expired:
                self._delete(backend, name, cut=server.sessions > 0)
                self._draining.pop(name, None)
                why = "deregistration delay over" if server.sessions else "drained"
                on_event(f"load balancer: {name} ({server.address}) removed ({why})")
        self._seen = {key: since for key, since in self._seen.items() if key in pending}
        self._declare(tg, self.runtime.servers(backend) if registered else have, registered)

    def _declare(self, tg: TargetGroupView, servers: dict[str, haproxy.Server], registered: list[str]) -> None:
        """Keep the declaration true: the baselines of the servers just registered, none of the gone ones."""
        if self.declarations is None:
            return
        if self._baselines is None:  # a restarted follower keeps what the last one declared
            before = followed.read(self.declarations, self.name)
            group = before.groups[0] if before and before.groups else None
            self._baselines = dict(group.baselines) if group and group.backend == tg.name else {}
        baselines = {n: b for n, b in self._baselines.items() if n in servers}
        for name in registered:
            if name in servers:
                baselines[name] = servers[name].down_transitions
        self._baselines = baselines
        group = followed.FollowedGroup(tg.arn, tg.name, haproxy.check_interval(tg.interval), tg.unhealthy_threshold,
                                       baselines)  # fmt: skip
        followed.write(self.declarations, followed.Declaration(self.name, str(self.runtime.path), (group,)))

    def _delete(self, backend: str, name: str, *, cut: bool = False) -> None:
        if cut:
            self.runtime.must(f"shutdown sessions server {backend}/{name}")
        self.runtime.must(f"set server {backend}/{name} state maint")
        self.runtime.must(f"del server {backend}/{name}")
