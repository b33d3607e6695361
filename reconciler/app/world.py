"""The world of one environment: observe it, re-check a plan against it, apply a plan to it. Does I/O.

Part of the composition root: :class:`World` holds the environment's
:class:`~reconciler.app.clients.Clients` and hands them to the observers
(:mod:`reconciler.observe`) and the executor. It holds no decisions:
``observe`` reads SSM, Secrets Manager, the registries and Docker into an
:class:`~reconciler.core.observed.ObservedState` (parameters first, then the tags
the planner asks for, and nothing else), ``recheck`` reads only what a plan
touches, ``apply`` runs a plan with the drivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from reconciler import planner
from reconciler.app.clients import Clients, Counters
from reconciler.core.address import parameter_address
from reconciler.core.errors import ReconcilerError, WorldError
from reconciler.core.events import EventSink, HostObserved, discard
from reconciler.core.fleet_observed import ObservedFleet
from reconciler.core.jobs import JobLedger
from reconciler.core.model import OWNER_KEY, DesiredState
from reconciler.core.observed import ObservedHost, ObservedParameter, ObservedState
from reconciler.core.plan import ROLLOUT_PREFIX, ParameterVersion, Plan, ProjectContainers, containers_fingerprint
from reconciler.core.secretsmanager import ObservedSecret
from reconciler.drivers.aws.fleet import FleetReader, FleetWriter
from reconciler.drivers.aws.instance_health import InstanceHealthWriter
from reconciler.drivers.aws.instance_refresh import InstanceRefresher
from reconciler.drivers.aws.lifecycle import LaunchWriter
from reconciler.drivers.aws.secretsmanager import SecretsReader
from reconciler.drivers.probe import probe, probe_session
from reconciler.drivers.readonly import docker_engine
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor import ApplyReport, Drivers, ExecuteOptions, HostDrivers, execute, execute_within
from reconciler.executor.instance_refresh import refresh_drivers
from reconciler.executor.rollout import FleetDrivers
from reconciler.observe.fleet import observe_fleets
from reconciler.observe.images import resolve_digests
from reconciler.observe.parameters import (
    attach_tags,
    observe_owned,
    observe_ownership,
    observe_parameters,
    observe_versions,
)
from reconciler.observe.secretsmanager import observe_secrets
from reconciler.observe.stacks import observe_containers, observe_docker
from reconciler.planner.images import all_refs, resolve

if TYPE_CHECKING:
    from reconciler.app.settings import Settings

__all__ = ["World"]

ENGINE_WAIT = 300.0  # seconds a replacement's Docker engine may take to answer once it has an address (boot)
ENGINE_POLL = 0.5


@dataclass
class World:
    """One environment's world through its clients (safe to keep for a long-running process)."""

    clients: Clients
    options: ExecuteOptions = field(default_factory=ExecuteOptions)
    _fleet_reader: FleetReader | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def connect(cls, settings: Settings, *, read_only: bool = False) -> World:
        """Build the clients; ``read_only`` ones refuse every mutating call (plan, status)."""
        return cls(Clients.connect(settings, read_only=read_only))

    @property
    def settings(self) -> Settings:
        return self.clients.settings

    @property
    def counters(self) -> Counters:
        return self.clients.counters

    # ---- observe -----------------------------------------------------------

    def observe(self, desired: DesiredState, on_event: EventSink = discard) -> ObservedState:
        """Read everything the planner compares; tags only where a decision needs them. A Docker
        host that cannot be read is recorded as such (the planner makes it a Problem)."""
        fleets = self.observe_fleets(desired)
        expanded = planner.expand_fleets(desired, fleets)
        # SSM (and Secrets Manager) are read while the registries and the Docker hosts are (its errors come first)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe-ssm") as ssm:
            reading = ssm.submit(self._observe_parameters, desired)
            secrets_read = ssm.submit(self._observe_secrets, desired)
            try:
                refs = list(all_refs(desired).values())
                digests = resolve_digests(refs, self.clients.resolver_for)
                resolved = ObservedState(image_digests=digests)
                pinned = [ref.pinned(d) for ref in refs if (d := resolve(ref, resolved)) is not None]
                hosts = self._observe_hosts(expanded, pinned)
            except BaseException:
                reading.result()
                secrets_read.result()
                raise
            parameters = reading.result()
            secrets = secrets_read.result()
        partial = ObservedState(parameters=parameters, image_digests=digests)
        parameters = attach_tags(parameters, self._ownership(desired, partial))
        names = sorted(hosts)
        for name in names:
            on_event(HostObserved(name, len(hosts[name].containers), hosts[name].error))
        return ObservedState(
            parameters=parameters, image_digests=digests, hosts=hosts, fleets=fleets, secrets=secrets
        )

    def observe_fleets(self, desired: DesiredState) -> dict[str, ObservedFleet]:
        """Each fleet's group, target groups and alarms; its serving instances become known hosts."""
        if not desired.fleets:
            return {}
        if self._fleet_reader is None:
            self._fleet_reader = FleetReader(self.clients.fleet())
        fleets = observe_fleets(self._fleet_reader, desired)
        self.clients.add_instances(planner.expand_fleets(desired, fleets).hosts)
        return fleets

    def _observe_parameters(self, desired: DesiredState) -> dict[str, ObservedParameter]:
        """SSM under the desired paths (nothing to read, and no AWS client, without ParameterSets)."""
        if not desired.parameter_paths:
            return {}
        return observe_parameters(self.clients.ssm(), desired.parameter_paths)

    def _observe_secrets(self, desired: DesiredState) -> dict[str, ObservedSecret]:
        """The secrets the parameters name, each once (no client without any)."""
        refs = desired.secret_refs
        if not refs:
            return {}
        return observe_secrets(SecretsReader(self.clients.secrets()), refs)

    def _observe_hosts(self, desired: DesiredState, pinned: list[str]) -> dict[str, ObservedHost]:
        names = sorted({h for stack in desired.stacks for h in stack.hosts})

        def observe_one(name: str) -> ObservedHost:
            projects = [s.project for s in desired.stacks if name in s.hosts]
            return self._observe_host(name, pinned, projects)

        # hosts are independent: read them at once (a slow or unreachable one does not hold up the rest)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            return dict(zip(names, pool.map(observe_one, names), strict=True))

    def _observe_host(self, name: str, pinned: list[str], projects: list[str]) -> ObservedHost:
        try:
            seen = observe_docker(self.clients.host(name).api, pinned, projects=projects)
        except WorldError as exc:
            return ObservedHost(name, error=str(exc))
        return ObservedHost(
            name,
            local_images=seen.local_images,
            containers=seen.containers,
            networks=seen.networks,
            volumes=seen.volumes,
        )

    def _ownership(self, desired: DesiredState, partial: ObservedState) -> dict[str, dict[str, str]]:
        """Tags of the names the planner asks about: declared ones about to be overwritten (adopt?)
        by one owner-filtered DescribeParameters per 50 names; undeclared ones under prune paths
        (prune?) by one owner-filtered listing per path."""
        wanted = planner.ownership_queries(desired, partial)
        if not wanted:
            return {}
        declared = {p.name for p in desired.parameters}
        ssm = self.clients.ssm()
        tags = observe_ownership(ssm, sorted(n for n in wanted if n in declared), OWNER_KEY, desired.owner)
        undeclared = sorted(n for n in wanted if n not in declared)
        if undeclared:
            prune_paths = [p.path for p in desired.parameter_paths if p.prune]
            owned = observe_owned(ssm, prune_paths, OWNER_KEY, desired.owner)
            # Only the owner tag decides a prune; other tags are not read.
            tags.update({n: ({OWNER_KEY: desired.owner} if n in owned else {}) for n in undeclared})
        return tags

    # ---- re-check and apply --------------------------------------------------

    def recheck(self, plan: Plan) -> list[str]:
        """What no longer matches the plan's preconditions, each as ``address: what changed``.
        Reads only what the plan touches: GetParameters (10 names a call) for the parameters
        it writes or deletes, one container listing per host it acts on."""
        stale: list[str] = []
        versions = [p for p in plan.preconditions if isinstance(p, ParameterVersion)]
        if versions:
            now = observe_versions(self.clients.ssm(), [p.name for p in versions])
            for version in versions:
                current = now.get(version.name)
                if current != version.version:
                    was = "absent" if version.version is None else f"version {version.version}"
                    is_ = "absent" if current is None else f"version {current}"
                    stale.append(f"{parameter_address(version.name)}: was {was}, now {is_}")
        projects = [p for p in plan.preconditions if isinstance(p, ProjectContainers)]
        for host in sorted({p.host for p in projects}):
            wanted = [p for p in projects if p.host == host]
            try:
                containers = observe_containers(self.clients.host(host).api, [p.project for p in wanted])
            except WorldError as exc:
                stale.extend(f"project {p.project} on host {host}: cannot be read: {exc}" for p in wanted)
                continue
            for p in wanted:
                if containers_fingerprint(c for c in containers if c.project == p.project) != p.containers:
                    stale.append(f"project {p.project} on host {host}: its containers changed")
        return stale

    def apply(
        self,
        plan: Plan,
        on_event: EventSink = discard,
        planned: tuple[DesiredState, ObservedState] | None = None,
        *,
        jobs: JobLedger | None = None,
    ) -> ApplyReport:
        """Run ``plan``; jobs that succeed are recorded in ``jobs`` (the state store). With read-only
        clients (plan, status) every write is refused. ``planned``: what it was planned from, for a
        rotation to converge each replacement it waits for."""

        def host_drivers(name: str) -> HostDrivers:
            return HostDrivers(engine=docker_engine(self.clients.host(name).api), compose=self.clients.compose(name))

        clients = self.clients
        rolls = any(u.id.startswith(ROLLOUT_PREFIX) for u in plan.units)
        made: list[Drivers] = []
        converge = self._converger(planned, made, on_event) if planned is not None else None
        drivers = Drivers(
            ssm=SsmWriter(clients.aws.ssm) if clients.aws is not None else None,
            hosts=host_drivers,
            registry_auth=clients.registry_auth(),
            fleet=self._fleet_drivers(converge) if rolls else None,
            jobs=jobs,
        )
        made.append(drivers)
        return execute(
            plan,
            drivers,
            state_dir=self.settings.state_dir / self.settings.environment,
            options=self.options,
            on_event=on_event,
        )

    def _converger(
        self, planned: tuple[DesiredState, ObservedState], made: list[Drivers], on_event: EventSink
    ) -> Callable[[str, str], str]:
        """How a rotation converges a replacement: observe the fleet and the new instance's engine,
        plan its units (:func:`reconciler.planner.launch.plan_new_instance`), run them."""
        desired, observed = planned

        def converge(fleet: str, instance: str) -> str:
            from reconciler.planner.launch import plan_new_instance

            fleets = self.observe_fleets(desired)
            seen = fleets.get(fleet)
            found = seen.instance(instance) if seen is not None else None
            if seen is not None and found is not None and instance in seen.docker_urls:
                host = next(h for h in desired.fleets if h.name == fleet)
                url = seen.docker_urls[instance]
                self.clients.add_instances([replace(host, name=instance, docker_host=url, fleet=None, member_of=fleet)])
            pinned = [ref.pinned(d) for ref in all_refs(desired).values() if (d := resolve(ref, observed)) is not None]
            projects = [s.project for s in desired.stacks if fleet in s.hosts]
            host_seen = self._observe_host(instance, pinned, projects)
            deadline = time.monotonic() + ENGINE_WAIT
            while host_seen.error is not None and time.monotonic() < deadline:  # a new instance still booting
                time.sleep(ENGINE_POLL)
                host_seen = self._observe_host(instance, pinned, projects)
            now = replace(observed, fleets=fleets, hosts={instance: host_seen})
            sub = plan_new_instance(desired, now, fleet, instance)
            report = execute_within(sub, made[0], state_dir=self.settings.state_dir / self.settings.environment,
                             options=self.options, on_event=on_event)  # fmt: skip
            if not report.ok:
                failed = "; ".join(f"{r.address}: {r.message}" for r in report.results if r.status == "failed")
                raise ReconcilerError(failed or "not every step of it succeeded")
            return f"{len(sub.actions)} step(s) on it done: stacks running, healthy, in service"

        return converge

    def _fleet_drivers(self, converge: Callable[[str, str], str] | None = None) -> FleetDrivers:
        fleet = self.clients.fleet()
        session = probe_session()
        self._closers.append(session.close)
        reader = FleetReader(fleet)
        return FleetDrivers(
            reader=reader,
            writer=FleetWriter(fleet),
            probe=lambda url, timeout: probe(session, url, timeout),
            gone=reader.instance_gone,
            health=InstanceHealthWriter(fleet),
            launches=LaunchWriter(fleet),
            converge=converge,
            refresh=refresh_drivers(InstanceRefresher(fleet.autoscaling), converge, completes=True)
            if converge
            else None,
        )

    def close(self) -> None:
        for close in self._closers:
            close()
        self.clients.close()
