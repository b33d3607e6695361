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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
import docker
import requests

from reconciler import planner
from reconciler.drivers.aws import AwsClients, CallCounter, make_clients
from reconciler.drivers.compose import ComposeRunner, locate_compose
from reconciler.drivers.docker import DockerCallCounter, DockerEngine, connect
from reconciler.drivers.registry import EcrRegistry, OciRegistry, RegistryAuth, cached_logins
from reconciler.drivers.ssm import SsmWriter
from reconciler.executor import ApplyReport, Drivers, ExecuteOptions, execute
from reconciler.model import OWNER_KEY, DesiredState, ImageRef, ObservedState
from reconciler.observe.docker import observe_docker
from reconciler.observe.registry import Resolver, resolve_digests
from reconciler.observe.ssm import attach_tags, observe_owned, observe_parameters, observe_tags
from reconciler.plan import Plan
from reconciler.planner.images import all_refs, resolve

if TYPE_CHECKING:
    from reconciler.app import Settings
    from reconciler.spec.desired import RegistrySettings

EventSink = Callable[[str], None]

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
class World:
    """Clients for one environment, built once per command and closed at the end."""

    settings: Settings
    aws: AwsClients
    api: docker.APIClient
    http: requests.Session
    on_event: EventSink
    counters: Counters
    options: ExecuteOptions = field(default_factory=ExecuteOptions)
    _registries: dict[str, EcrRegistry | OciRegistry] = field(default_factory=dict)
    _ecr_clients: dict[str, AwsClients] = field(default_factory=dict)
    _compose: ComposeRunner | None = None

    @classmethod
    def connect(cls, settings: Settings, on_event: EventSink) -> World:
        """Build the clients. Raises WorldError when Docker cannot be reached (AWS is lazy)."""
        counters = Counters()
        session = aws_session(settings.region, settings.aws_endpoint_url)
        aws = make_clients(settings.region, settings.aws_endpoint_url, session=session)
        counters.aws.attach(aws.ssm, aws.ecr)
        api = connect(settings.docker_host)
        counters.docker.attach(api)
        http = requests.Session()
        counters.registry.attach(http)
        return cls(settings=settings, aws=aws, api=api, http=http, on_event=on_event, counters=counters)

    # ---- clients -----------------------------------------------------------

    def _ecr_for(self, region: str | None) -> AwsClients:
        region = region or self.settings.region
        if region == self.aws.region:
            return self.aws
        if region not in self._ecr_clients:
            session = aws_session(region, self.settings.aws_endpoint_url)
            clients = make_clients(region, self.settings.aws_endpoint_url, session=session)
            self.counters.aws.attach(clients.ecr)
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

    def resolver_for(self, ref: ImageRef) -> Resolver:
        return self._registry(self.settings.registries[ref.name])

    def registry_auth(self) -> Callable[[str], RegistryAuth | None]:
        logins: dict[str, Callable[[], RegistryAuth]] = {}
        for reg in self.settings.registries.values():
            registry = self._registry(reg)
            if isinstance(registry, EcrRegistry):
                logins[reg.host] = registry.login
        return cached_logins(logins)

    def compose(self) -> ComposeRunner:
        if self._compose is None:
            self._compose = ComposeRunner(locate_compose(), docker_host=self.settings.docker_host)
        return self._compose

    # ---- observe -----------------------------------------------------------

    def observe(self, desired: DesiredState) -> ObservedState:
        """Read everything the planner compares; tags only where a decision needs them."""
        parameters = observe_parameters(self.aws.ssm, desired.parameter_paths)
        refs = list(all_refs(desired).values())
        digests = resolve_digests(refs, self.resolver_for)
        partial = ObservedState(parameters=parameters, image_digests=digests)
        parameters = attach_tags(parameters, self._ownership(desired, partial))
        pinned = [ref.pinned(d) for ref in refs if (d := resolve(ref, partial)) is not None]
        seen = observe_docker(self.api, pinned, projects=[s.project for s in desired.stacks])
        return ObservedState(
            parameters=parameters,
            image_digests=digests,
            local_images=seen.local_images,
            containers=seen.containers,
            networks=seen.networks,
            volumes=seen.volumes,
        )

    def _ownership(self, desired: DesiredState, partial: ObservedState) -> dict[str, dict[str, str]]:
        """Tags of the names the planner asks about: declared ones about to be overwritten (adopt?)
        one by one; undeclared ones under prune paths (prune?) by one owner-filtered listing per path."""
        wanted = planner.ownership_queries(desired, partial)
        declared = {p.name for p in desired.parameters}
        tags = observe_tags(self.aws.ssm, sorted(n for n in wanted if n in declared))
        undeclared = sorted(n for n in wanted if n not in declared)
        if undeclared:
            prune_paths = [p.path for p in desired.parameter_paths if p.prune]
            owned = observe_owned(self.aws.ssm, prune_paths, OWNER_KEY, desired.owner)
            # Only the owner tag decides a prune; other tags are not read.
            tags.update({n: ({OWNER_KEY: desired.owner} if n in owned else {}) for n in undeclared})
        return tags

    # ---- apply -------------------------------------------------------------

    def apply(self, plan: Plan, desired: DesiredState, observed: ObservedState) -> ApplyReport:
        drivers = Drivers(
            ssm=SsmWriter(self.aws.ssm),
            engine=DockerEngine(self.api),
            compose=self.compose(),
            registry_auth=self.registry_auth(),
        )
        return execute(
            plan,
            desired,
            observed,
            drivers,
            state_dir=self.settings.state_dir / desired.environment,
            options=self.options,
            on_event=self.on_event,
        )

    def close(self) -> None:
        self.http.close()
        self.api.close()
        for clients in (self.aws, *self._ecr_clients.values()):
            clients.ssm.close()
            clients.ecr.close()
