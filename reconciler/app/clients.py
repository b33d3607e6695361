"""The clients of one environment: AWS, the image registries and every Docker host. Does I/O.

The one place clients are built (through the drivers' factories: nothing here
imports boto3, docker or requests). :class:`Clients` makes the AWS clients at
once (none at all, not even a boto3 session, for an environment without AWS:
``settings.region`` None), the fleet's and Secrets Manager's on first use, and each
Docker host's client and Compose runner on first use; a
``read_only`` set refuses every mutating call (plan, status, dry runs). Every
call to AWS, Docker and the registries is counted (botocore's ``before-call``
event, requests' response hook), so tests and ``make bench`` can state what a
reconcile costs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from reconciler.core.errors import PermanentError, ReconcilerError, TemporaryError, WorldError
from reconciler.core.model import HostSpec, ImageSpec
from reconciler.drivers.aws.clients import AwsClients, CallCounter, aws_session, make_clients
from reconciler.drivers.aws.fleet import FleetClients, make_fleet_clients
from reconciler.drivers.aws.secretsmanager import make_secrets_client
from reconciler.drivers.compose import ComposeRunner, locate_compose, subprocess_run
from reconciler.drivers.docker.client import DockerCallCounter, connect
from reconciler.drivers.readonly import DockerApi, ReadOnlyDockerApi, ReadOnlySession, read_only_boto3, refuse_compose
from reconciler.drivers.registry.auth import RegistryAuth, cached_logins
from reconciler.drivers.registry.ecr import EcrRegistry
from reconciler.drivers.registry.oci import HttpSession, OciRegistry, RegistryCallCounter, http_session

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

    from reconciler.app.settings import Settings
    from reconciler.drivers.github import GitHubTarget, PullRequestComments
    from reconciler.spec.desired import RegistrySettings

__all__ = ["Clients", "Counters", "HostClients", "github_comments"]


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
class Clients:
    """Clients for one environment, safe to keep for a long-running process; closed at the end."""

    settings: Settings
    aws: AwsClients | None  # None: the environment uses no AWS
    http: HttpSession
    counters: Counters
    read_only: bool = False
    # (host, user name) -> its client: an image's own anonymous settings are honoured beside credentials
    _registries: dict[tuple[str, str | None], EcrRegistry | OciRegistry] = field(default_factory=dict)
    _ecr_clients: dict[str, AwsClients] = field(default_factory=dict)
    _hosts: dict[str, HostClients] = field(default_factory=dict)
    _compose_binary: list[str] | None = None
    _instances: dict[str, HostSpec] = field(default_factory=dict)  # a fleet's instances, as last observed
    _fleet: FleetClients | None = None
    _secrets: SecretsManagerClient | None = None

    @classmethod
    def connect(cls, settings: Settings, *, read_only: bool = False) -> Clients:
        """Build the AWS and registry clients; Docker hosts are connected on first use."""
        counters = Counters()
        aws: AwsClients | None = None
        if settings.region is not None:
            session = aws_session(settings.region, settings.aws_endpoint_url)
            aws = make_clients(settings.region, settings.aws_endpoint_url, session=session)
            counters.aws.attach(aws.ssm, aws.ecr)
            if read_only:
                aws = replace(aws, ssm=read_only_boto3(aws.ssm), ecr=read_only_boto3(aws.ecr))
        http = ReadOnlySession() if read_only else http_session()
        counters.registry.attach(http)
        return cls(settings=settings, aws=aws, http=http, counters=counters, read_only=read_only)

    def fleet(self) -> FleetClients:
        """The Auto Scaling, EC2, ELBv2 and CloudWatch clients (built on first use: only fleets need them)."""
        if self._fleet is None:
            region = self.settings.region
            if region is None:  # refused by the loader: a fleet needs aws
                raise ReconcilerError(f"environment {self.settings.environment} has a fleet but no aws region")
            session = aws_session(region, self.settings.aws_endpoint_url)
            fleet = make_fleet_clients(session, region, self.settings.aws_endpoint_url)
            self.counters.aws.attach(*fleet.all())
            if self.read_only:
                fleet = FleetClients(*(read_only_boto3(c) for c in fleet.all()))
            self._fleet = fleet
        return self._fleet

    def secrets(self) -> SecretsManagerClient:
        """The Secrets Manager client (built on first use: only values fromSecretsManager need it)."""
        if self._secrets is None:
            region = self.settings.region
            if region is None:  # refused by the loader: a ParameterSet needs aws
                raise ReconcilerError(f"environment {self.settings.environment} has no aws: it cannot read secrets")
            client = make_secrets_client(aws_session(region, self.settings.aws_endpoint_url), region,
                                         self.settings.aws_endpoint_url)  # fmt: skip
            self.counters.aws.attach(client)
            self._secrets = read_only_boto3(client) if self.read_only else client
        return self._secrets

    def add_instances(self, hosts: Iterable[HostSpec]) -> None:
        """Make a fleet's instances known as hosts (after each observation of the fleet)."""
        for spec in hosts:
            known = self._instances.get(spec.name)
            if known is not None and known.docker_host != spec.docker_host and spec.name in self._hosts:
                self._hosts.pop(spec.name).close()
            self._instances[spec.name] = spec

    def host(self, name: str) -> HostClients:
        """The clients of host ``name``; raises WorldError when its engine cannot be reached."""
        if name not in self._hosts:
            spec = next((h for h in self.settings.hosts if h.name == name), None) or self._instances.get(name)
            if spec is None:
                raise ReconcilerError(f"host {name} is not declared in environment {self.settings.environment}")
            if spec.fleet is not None:
                raise ReconcilerError(f"host {name} is a fleet: its instances are hosts once it has been observed")
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

    def ssm(self) -> SSMClient:
        """The SSM client (only an environment with AWS has ParameterSets: the loader sees to it)."""
        if self.aws is None:
            raise ReconcilerError(f"environment {self.settings.environment} has no aws: it cannot use SSM")
        return self.aws.ssm

    def _ecr_for(self, region: str | None) -> AwsClients:
        region = region or self.settings.region
        if region is None or self.aws is None:
            raise ReconcilerError(f"environment {self.settings.environment} has no aws: it cannot use ECR")
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

    def registry(self, reg: RegistrySettings) -> EcrRegistry | OciRegistry:
        """One client per registry host and user, shared by tag resolution and pull logins."""
        key = (reg.host, reg.username if reg.password is not None else None)
        if key not in self._registries:
            if reg.type == "ecr":
                self._registries[key] = EcrRegistry(self._ecr_for(reg.region).ecr, reg.account_id)
            else:
                login = (reg.username, reg.password) if reg.username is not None and reg.password else None
                self._registries[key] = OciRegistry(self.http, reg.api_host, reg.insecure, credentials=login)
        return self._registries[key]

    def resolver_for(self, ref: ImageSpec) -> EcrRegistry | OciRegistry:
        return self.registry(self.settings.registries[ref.name])

    def registry_auth(self) -> Callable[[str], RegistryAuth | None]:
        """Registry host -> what the engine pulls with: ECR's login, or the credentials the specs give
        for that host (per host, as ``docker login`` keeps them); anonymous otherwise."""
        logins: dict[str, Callable[[], RegistryAuth]] = {}
        for reg in self.settings.registries.values():
            registry = self.registry(reg)
            if isinstance(registry, EcrRegistry):
                logins[reg.host] = registry.login
            elif reg.username is not None and reg.password is not None:
                logins[reg.host] = partial(RegistryAuth, reg.username, reg.password, reg.host)
        return cached_logins(logins)

    def close(self) -> None:
        self.http.close()
        for clients in self._hosts.values():
            clients.close()
        if self._fleet is not None:
            self._fleet.close()
        if self._secrets is not None:
            self._secrets.close()
        for aws in (*([self.aws] if self.aws is not None else []), *self._ecr_clients.values()):
            aws.ssm.close()
            aws.ecr.close()


def github_comments(target: GitHubTarget, token: str) -> PullRequestComments:
    """The comments of ``target``'s pull request through GitHub's REST API (githubkit, imported only here)."""
    from reconciler.drivers.github import PullRequestComments, connect

    return PullRequestComments(connect(token, target.api_url), target)
