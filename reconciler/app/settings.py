"""Where the world of an environment is, after command-line overrides. Pure.

:func:`resolve_settings` takes the validated specs and the overrides any user
can give (``--aws-endpoint-url``, ``--docker-host``, ``--docker-engine``,
``--registry``, ``--state-dir``) and returns the desired state as it will be
planned (a registry override swaps every image's registry, engine overrides
the hosts' engines) plus the :class:`Settings` the composition root builds
clients from. Overrides are plain values, so nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.core.fleet import PLACEHOLDERS, fill_template, template_placeholders
from reconciler.core.instance_health import unreachable_ticks
from reconciler.core.model import DesiredState, HostSpec, StateStoreSpec
from reconciler.core.notices import Destination
from reconciler.core.urls import url_problem
from reconciler.spec.desired import RegistrySettings

SQLITE_STORE = StateStoreSpec()


@dataclass(frozen=True)
class Overrides:
    """What the command line overrides in every environment's specs (each field has its flag)."""

    aws_endpoint_url: str | None = None
    # "URL" (every host) or "NAME=URL" (one host), as given on the command line
    docker_hosts: tuple[str, ...] = ()
    # engines for the hosts in the order they are declared (a host given by NAME=URL keeps that URL)
    docker_engines: tuple[str, ...] = ()
    engines_from: str = "--docker-engine"  # where docker_engines came from, named when they are too few
    # every image from this OCI registry: HOST[:PORT], https://HOST[:PORT], http://HOST[:PORT] (plain HTTP)
    registry: str | None = None
    state_dir: Path | None = None
    # every fleet's instances at this Docker URL template instead of the specs' (e.g. ssh://root@{privateIp})
    fleet_docker: str | None = None


@dataclass(frozen=True)
class Settings:
    """Where the world is, after overrides."""

    environment: str
    region: str | None  # None: the environment uses no AWS (no client is ever built for it)
    aws_endpoint_url: str | None
    hosts: tuple[HostSpec, ...]
    registries: Mapping[str, RegistrySettings]  # Images entry name -> registry
    state_dir: Path
    self_heal: bool = True  # the loop corrects drift (else reports it)
    auto_rollback: bool = True  # the loop applies the last applied revision again after a failed rollout
    replace_unhealthy: bool = True  # the loop marks an instance that cannot be reconciled unhealthy (replaced)
    state_store: StateStoreSpec = SQLITE_STORE
    notifications: tuple[Destination, ...] = ()  # where the loop tells what it did


def default_state_dir() -> Path:
    base = os.environ.get("RECONCILER_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "reconciler"


DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://")
_REGISTRY = re.compile(
    r"(?:(?P<scheme>https?)://)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)


def _is_docker_url(url: str) -> bool:
    return any(url.startswith(scheme) and url.removeprefix(scheme).strip("/") for scheme in DOCKER_SCHEMES)


def _registry(value: str) -> tuple[str, bool] | None:
    """``(host[:port], insecure)`` of a --registry value, None when it is not one."""
    match = _REGISTRY.fullmatch(value)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        return None
    host = match["host"] + (f":{match['port']}" if match["port"] else "")
    return host, match["scheme"] == "http"


def _malformed(flag: str, value: str, url: str) -> None:
    """Refuse ``value`` (given as ``flag``) when ``url`` cannot be connected to."""
    problem = url_problem(url)
    if problem is not None:
        raise ReconcilerError(f"{flag} {value!r}: not a valid URL: {problem}")


def _check_docker_url(flag: str, value: str, url: str) -> None:
    if not url.startswith("unix://"):  # a socket path has no host to check
        _malformed(flag, value, url)


def check_overrides(overrides: Overrides) -> None:
    """Overrides are validated like spec fields (a flag is no back door for a bad address)."""
    url = overrides.aws_endpoint_url
    if url is not None:
        if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
            raise ReconcilerError(f"--aws-endpoint-url {url!r}: must be an http:// or https:// URL")
        _malformed("--aws-endpoint-url", url, url)
    for item in overrides.docker_hosts:
        name, sep, rest = item.partition("=")
        engine = rest if sep and "://" not in name else item
        if not _is_docker_url(engine):
            raise ReconcilerError(
                f"--docker-host {item!r}: give URL or HOST=URL, the URL one of unix://, tcp://, ssh://"
            )
        _check_docker_url("--docker-host", item, engine)
    for item in overrides.docker_engines:
        if not _is_docker_url(item):
            raise ReconcilerError(f"--docker-engine {item!r}: give a URL, one of unix://, tcp://, ssh://")
        _check_docker_url("--docker-engine", item, item)
    template = overrides.fleet_docker
    if template is not None:
        names = template_placeholders(template)
        unknown = [n for n in names if n not in PLACEHOLDERS]
        sample = fill_template(template, {p: "10.0.1.11" for p in PLACEHOLDERS}) if not unknown else ""
        if unknown or not _is_docker_url(sample):
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ReconcilerError(
                f"--fleet-docker {template!r}: give a Docker URL (unix://, tcp://, ssh://) that may name {known}"
            )
    registry = overrides.registry
    given = _registry(registry) if registry is not None else None
    if registry is not None and (given is None or url_problem(f"https://{given[0]}") is not None):
        raise ReconcilerError(
            f"--registry {registry!r}: give HOST[:PORT] or https://HOST[:PORT] (TLS), "
            "or http://HOST[:PORT] (plain HTTP)"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _docker_overrides(desired: DesiredState, overrides: Overrides) -> tuple[HostSpec, ...]:
    """Each host's engine: its NAME=URL override, else the URL override, else the engine at its
    position among the ordered engines (the n-th declared host takes the n-th), else its spec."""
    names = {h.name for h in desired.hosts}
    every: str | None = None
    per_host: dict[str, str] = {}
    for item in overrides.docker_hosts:
        name, sep, url = item.partition("=")
        if sep and "://" not in name:
            if name not in names:
                known = ", ".join(sorted(names))
                raise ReconcilerError(f"--docker-host {item}: no host named {name!r} (hosts: {known})")
            per_host[name] = url
        else:
            every = item
    engines = overrides.docker_engines
    if engines and every is None:
        hosts = tuple(h for h in desired.hosts if h.fleet is None)  # a fleet's instances have their own engines
        if any(h.name not in per_host for h in hosts[len(engines) :]):
            raise ReconcilerError(
                f"environment {desired.environment} has {_plural(len(hosts), 'host')} "
                f"({', '.join(h.name for h in hosts)}) but {_plural(len(engines), 'Docker engine')} given "
                f"({overrides.engines_from})"
            )
        for host, engine in zip(hosts, engines, strict=False):
            per_host.setdefault(host.name, engine)
    return tuple(
        _fleet_override(h, overrides.fleet_docker)
        if h.fleet is not None
        else dataclasses.replace(h, docker_host=per_host.get(h.name, every), tls_cert_path=None)
        if h.name in per_host or every
        else h
        for h in desired.hosts
    )


def _fleet_override(host: HostSpec, template: str | None) -> HostSpec:
    """A fleet's hosts entry with its instances' Docker URL template replaced by ``template``."""
    if template is None or host.fleet is None:
        return host
    return dataclasses.replace(host, fleet=dataclasses.replace(host.fleet, docker=template), tls_cert_path=None)


def _one_registry(
    desired: DesiredState, registries: Mapping[str, RegistrySettings], registry: RegistrySettings
) -> tuple[DesiredState, dict[str, RegistrySettings]]:
    """Every image from ``registry`` instead of the specs' registries."""
    images = tuple(dataclasses.replace(ref, registry=registry.host) for ref in desired.images)
    by_name = {ref.name: ref for ref in images}
    stacks = tuple(
        dataclasses.replace(
            stack,
            services=tuple(
                dataclasses.replace(svc, image=by_name[svc.image.name]) if svc.image else svc
                for svc in stack.services
            ),
        )
        for stack in desired.stacks
    )
    return dataclasses.replace(desired, images=images, stacks=stacks), dict.fromkeys(registries, registry)


def resolve_settings(
    desired: DesiredState,
    registries: Mapping[str, RegistrySettings],
    region: str | None,
    endpoint_url: str | None,
    overrides: Overrides,
    *,
    self_heal: bool = True,
    state_store: StateStoreSpec = SQLITE_STORE,
    notifications: tuple[Destination, ...] = (),
) -> tuple[DesiredState, Settings]:
    """The desired state to plan and the settings to build clients from. ``region`` None: the
    environment uses no AWS, and an AWS endpoint override (``--sandbox`` gives one) is ignored."""
    check_overrides(overrides)
    found = dict(registries)
    given = _registry(overrides.registry) if overrides.registry is not None else None
    if given is not None:
        host, insecure = given
        registry = RegistrySettings(type="oci", host=host, insecure=insecure, account_id=None, region=region)
        desired, found = _one_registry(desired, registries, registry)
    if overrides.aws_endpoint_url:
        endpoint_url = overrides.aws_endpoint_url
    if region is None:
        endpoint_url = None
    hosts = _docker_overrides(desired, overrides)
    desired = dataclasses.replace(desired, hosts=hosts)
    settings = Settings(
        environment=desired.environment,
        region=region,
        aws_endpoint_url=endpoint_url,
        hosts=hosts,
        registries=found,
        state_dir=overrides.state_dir or default_state_dir(),
        self_heal=self_heal,
        auto_rollback=desired.rollout.auto_rollback,
        replace_unhealthy=unreachable_ticks(desired.rollout) is not None,
        state_store=state_store,
        notifications=notifications,
    )
    return desired, settings
