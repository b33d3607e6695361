"""The world of one environment: its clients, observation and apply. Does I/O.

Part of the composition root (:mod:`reconciler.app` builds a :class:`World`
from :class:`~reconciler.app.Settings`): this is where the boto3 clients, the
registry resolvers, the Docker API client and the Compose runner are made and
handed to the observers (:mod:`reconciler.observe`) and the executor. It holds
no decisions: ``observe`` reads SSM, the registries and Docker into an
:class:`~reconciler.model.ObservedState` (parameters first, then the tags the
planner asks for, and nothing else), ``apply`` runs a plan with the drivers.

Every call to AWS, Docker and the registries is counted (botocore's
``before-call`` event, requests' response hook), so tests and ``make bench``
can state what a reconcile costs.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import boto3
import docker
import requests

from reconciler import planner
from reconciler.address import parameter_address
from reconciler.drivers.aws import AwsClients, CallCounter, make_clients
from reconciler.drivers.compose import ComposeRunner, locate_compose, subprocess_run
from reconciler.drivers.docker import DockerCallCounter, DockerEngine, connect
from reconciler.drivers.readonly import ReadOnlyDockerApi, ReadOnlySession, read_only_boto3, refuse_compose
from reconciler.drivers.registry import EcrRegistry, OciRegistry, RegistryAuth, cached_logins
from reconciler.drivers.ssm import SsmWriter
from reconciler.errors import PermanentError, ReconcilerError, TemporaryError, WorldError
from reconciler.events import EventSink, HostObserved, discard
from reconciler.executor import ApplyReport, Drivers, ExecuteOptions, HostDrivers, execute
from reconciler.model import OWNER_KEY, DesiredState, HostSpec, ImageSpec, ObservedHost, ObservedState
from reconciler.observe.docker import observe_containers, observe_docker
from reconciler.observe.registry import Resolver, resolve_digests
from reconciler.observe.ssm import attach_tags, observe_owned, observe_ownership, observe_parameters, observe_versions
from reconciler.plan import ParameterVersion, Plan, ProjectContainers
from reconciler.planner.images import all_refs, resolve

DockerApi = docker.APIClient | ReadOnlyDockerApi

if TYPE_CHECKING:
    from reconciler.settings import Settings
    from reconciler.spec.desired import RegistrySettings

# moto accepts any credentials; used only for an endpoint on this machine when
# the default chain finds none (the sandbox, `make run` on a fresh machine).
LOOPBACK_CREDENTIALS = ("testing", "testing")


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def aws_session(region: str, endpoint_url: str | None) -> boto3.Session:
    """The default credential chain; placeholder credentials only for a loopback endpoint without any."""
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None and _is_loopback(endpoint_url):
        key, secret = LOOPBACK_CREDENTIALS
        session = boto3.Session(region_name=region, aws_access_key_id=key, aws_secret_access_key=secret)
    return session


class RegistryCallCounter:
    """Counts registry HTTP requests (method, host) through requests' response hook."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def attach(self, session: requests.Session) -> RegistryCallCounter:
        session.hooks["response"].append(self._on_response)
        return self

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.calls[(str(request.method), urlparse(str(request.url)).netloc)] += 1

    def reset(self) -> None:
        self.calls.clear()


@dataclass
class Counters:
    aws: CallCounter = field(default_factory=CallCounter)
    docker: DockerCallCounter = field(default_factory=DockerCallCounter)
    registry: RegistryCallCounter = field(default_factory=RegistryCallCounter)

    def reset(self) -> None:
        self.aws.reset()
        self.docker.reset()
        self.registry.reset()


@dataclass
class HostClients:
    """The clients of one Docker host, connected on first use."""

    spec: HostSpec
    api: DockerApi  # read-only wrapper for plan and status
    compose: ComposeRunner | None = None

    def close(self) -> None:
        self.api.close()


@dataclass
class World:
    """Clients for one environment (AWS, registries, every Docker host), safe to keep for a
    long-running process; closed at the end."""

    settings: Settings
    aws: AwsClients
    http: requests.Session
    counters: Counters
    read_only: bool = False
    options: ExecuteOptions = field(default_factory=ExecuteOptions)
    _registries: dict[str, EcrRegistry | OciRegistry] = field(default_factory=dict)
    _ecr_clients: dict[str, AwsClients] = field(default_factory=dict)
    _hosts: dict[str, HostClients] = field(default_factory=dict)
    _compose_binary: list[str] | None = None

    @classmethod
    def connect(cls, settings: Settings, *, read_only: bool = False) -> World:
        """Build the AWS and registry clients; Docker hosts are connected on first use.
        ``read_only`` clients refuse every mutating call (plan, status)."""
        counters = Counters()
        session = aws_session(settings.region, settings.aws_endpoint_url)
        aws = make_clients(settings.region, settings.aws_endpoint_url, session=session)
        counters.aws.attach(aws.ssm, aws.ecr)
        http = ReadOnlySession() if read_only else requests.Session()
        counters.registry.attach(http)
        if read_only:
            aws = replace(aws, ssm=read_only_boto3(aws.ssm), ecr=read_only_boto3(aws.ecr))
        return cls(settings=settings, aws=aws, http=http, counters=counters, read_only=read_only)

    # ---- clients -----------------------------------------------------------

    def host(self, name: str) -> HostClients:
        """The clients of host ``name``; raises WorldError when its engine cannot be reached."""
        if name not in self._hosts:
            spec = next((h for h in self.settings.hosts if h.name == name), None)
            if spec is None:
                raise ReconcilerError(f"host {name} is not declared in environment {self.settings.environment}")
            try:
                raw = connect(spec.docker_host, tls_cert_path=spec.tls_cert_path, tls_verify=spec.tls_verify)
            except TemporaryError as exc:
                raise TemporaryError(f"host {name}", exc.message, endpoint=exc.endpoint) from None
            except WorldError as exc:
                raise PermanentError(f"host {name}", exc.message, endpoint=exc.endpoint) from None
            self.counters.docker.attach(raw)
            api: DockerApi = ReadOnlyDockerApi(raw) if self.read_only else raw
            self._hosts[name] = HostClients(spec, api)
        return self._hosts[name]

    def compose(self, name: str) -> ComposeRunner:
        """The Compose runner of host ``name`` (located on first use: plans never need it)."""
        clients = self.host(name)
        if clients.compose is None:
            if self._compose_binary is None:
                self._compose_binary = locate_compose()
            clients.compose = ComposeRunner(
                self._compose_binary,
                run=refuse_compose if self.read_only else subprocess_run,
                docker_host=clients.spec.docker_host,
                tls_cert_path=clients.spec.tls_cert_path,
                tls_verify=clients.spec.tls_verify,
            )
        return clients.compose

    def _ecr_for(self, region: str | None) -> AwsClients:
        region = region or self.settings.region
        if region == self.aws.region:
            return self.aws
        if region not in self._ecr_clients:
            session = aws_session(region, self.settings.aws_endpoint_url)
            clients = make_clients(region, self.settings.aws_endpoint_url, session=session)
            self.counters.aws.attach(clients.ecr)
            if self.read_only:
                clients = replace(clients, ssm=read_only_boto3(clients.ssm), ecr=read_only_boto3(clients.ecr))
            self._ecr_clients[region] = clients
        return self._ecr_clients[region]

    def _registry(self, reg: RegistrySettings) -> EcrRegistry | OciRegistry:
        """One client per registry host, shared by tag resolution and pull logins."""
        if reg.host not in self._registries:
            if reg.type == "ecr":
                self._registries[reg.host] = EcrRegistry(self._ecr_for(reg.region).ecr, reg.account_id)
            else:
                self._registries[reg.host] = OciRegistry(self.http, reg.host, reg.insecure)
        return self._registries[reg.host]

    def resolver_for(self, ref: ImageSpec) -> Resolver:
        return self._registry(self.settings.registries[ref.name])

    def registry_auth(self) -> Callable[[str], RegistryAuth | None]:
        logins: dict[str, Callable[[], RegistryAuth]] = {}
        for reg in self.settings.registries.values():
            registry = self._registry(reg)
            if isinstance(registry, EcrRegistry):
                logins[reg.host] = registry.login
        return cached_logins(logins)

    # ---- observe -----------------------------------------------------------

    def observe(self, desired: DesiredState, on_event: EventSink = discard) -> ObservedState:
        """Read everything the planner compares; tags only where a decision needs them. A Docker
        host that cannot be read is recorded as such (the planner makes it a Problem)."""
        # SSM is read while the registries and the Docker hosts are (its errors come first)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe-ssm") as ssm:
            reading = ssm.submit(observe_parameters, self.aws.ssm, desired.parameter_paths)
            try:
                refs = list(all_refs(desired).values())
                digests = resolve_digests(refs, self.resolver_for)
                resolved = ObservedState(image_digests=digests)
                pinned = [ref.pinned(d) for ref in refs if (d := resolve(ref, resolved)) is not None]
                hosts = self._observe_hosts(desired, pinned)
            except BaseException:
                reading.result()
                raise
            parameters = reading.result()
        partial = ObservedState(parameters=parameters, image_digests=digests)
        parameters = attach_tags(parameters, self._ownership(desired, partial))
        names = sorted(hosts)
        for name in names:
            on_event(HostObserved(name, len(hosts[name].containers), hosts[name].error))
        return ObservedState(parameters=parameters, image_digests=digests, hosts=hosts)

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
            seen = observe_docker(self.host(name).api, pinned, projects=projects)
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
        declared = {p.name for p in desired.parameters}
        tags = observe_ownership(self.aws.ssm, sorted(n for n in wanted if n in declared), OWNER_KEY, desired.owner)
        undeclared = sorted(n for n in wanted if n not in declared)
        if undeclared:
            prune_paths = [p.path for p in desired.parameter_paths if p.prune]
            owned = observe_owned(self.aws.ssm, prune_paths, OWNER_KEY, desired.owner)
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
            now = observe_versions(self.aws.ssm, [p.name for p in versions])
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
                containers = observe_containers(self.host(host).api, [p.project for p in wanted])
            except WorldError as exc:
                stale.extend(f"project {p.project} on host {host}: cannot be read: {exc}" for p in wanted)
                continue
            for p in wanted:
                now_containers = tuple(
                    sorted(
                        (c.id, c.service, c.config_hash or "", c.owner or "")
                        for c in containers
                        if c.project == p.project
                    )
                )
                if now_containers != p.containers:
                    stale.append(f"project {p.project} on host {host}: its containers changed")
        return stale

    def apply(self, plan: Plan, on_event: EventSink = discard) -> ApplyReport:
        """Run ``plan``. With read-only clients (plan, status) every write is refused."""

        def host_drivers(name: str) -> HostDrivers:
            clients = self.host(name)
            engine = DockerEngine(cast(docker.APIClient, clients.api))
            return HostDrivers(engine=engine, compose=self.compose(name))

        drivers = Drivers(ssm=SsmWriter(self.aws.ssm), hosts=host_drivers, registry_auth=self.registry_auth())
        return execute(
            plan,
            drivers,
            state_dir=self.settings.state_dir / self.settings.environment,
            options=self.options,
            on_event=on_event,
        )

    def close(self) -> None:
        self.http.close()
        for clients in self._hosts.values():
            clients.close()
        for aws in (self.aws, *self._ecr_clients.values()):
            aws.ssm.close()
            aws.ecr.close()
