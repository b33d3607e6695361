"""Where the world of an environment is, after command-line and sandbox overrides. Pure.

:func:`resolve_settings` takes the validated specs and the overrides
(``--sandbox``, ``--aws-endpoint-url``, ``--docker-host``, ``--state-dir``)
and returns the desired state as it will be planned (the sandbox swaps
registries and hosts) plus the :class:`Settings` the composition root
builds clients from. The sandbox's addresses come in as plain values
(:class:`SandboxWorld`), so nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredState, HostSpec, StateStoreSpec
from reconciler.spec.desired import RegistrySettings

SQLITE_STORE = StateStoreSpec()


@dataclass(frozen=True)
class Overrides:
    sandbox: bool = False
    aws_endpoint_url: str | None = None
    # "URL" (every host) or "NAME=URL" (one host), as given on the command line
    docker_hosts: tuple[str, ...] = ()
    state_dir: Path | None = None


@dataclass(frozen=True)
class SandboxWorld:
    """The sandbox's addresses: moto, the registry and its engines in order."""

    moto_url: str
    registry: str
    engines: tuple[str, ...]  # docker hosts


@dataclass(frozen=True)
class Settings:
    """Where the world is, after overrides."""

    environment: str
    region: str
    aws_endpoint_url: str | None
    hosts: tuple[HostSpec, ...]
    registries: Mapping[str, RegistrySettings]  # Images entry name -> registry
    state_dir: Path
    sandbox: bool
    self_heal: bool = True  # the loop corrects drift (else reports it)
    state_store: StateStoreSpec = SQLITE_STORE


def default_state_dir() -> Path:
    base = os.environ.get("RECONCILER_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "reconciler"


def _sandboxed(
    desired: DesiredState, registries: Mapping[str, RegistrySettings], region: str, sandbox: SandboxWorld
) -> tuple[DesiredState, dict[str, RegistrySettings], tuple[HostSpec, ...]]:
    if len(desired.hosts) > len(sandbox.engines):
        raise ReconcilerError(
            f"environment {desired.environment} has {len(desired.hosts)} hosts but the sandbox runs "
            f"{len(sandbox.engines)} Docker engines (set RECONCILER_SANDBOX_ENGINES and run "
            "`reconciler sandbox up`)"
        )
    registry = RegistrySettings(type="oci", host=sandbox.registry, insecure=True, account_id=None, region=region)
    images = tuple(dataclasses.replace(ref, registry=sandbox.registry) for ref in desired.images)
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
    hosts = tuple(
        dataclasses.replace(host, docker_host=engine, tls_cert_path=None)
        for host, engine in zip(desired.hosts, sandbox.engines, strict=False)
    )
    return dataclasses.replace(desired, images=images, stacks=stacks), dict.fromkeys(registries, registry), hosts


DOCKER_SCHEMES = ("unix://", "tcp://", "ssh://")


def check_overrides(overrides: Overrides) -> None:
    """Overrides are validated like spec fields (a flag is no back door for a bad address)."""
    url = overrides.aws_endpoint_url
    if url is not None and (not url.startswith(("http://", "https://")) or len(url) <= len("https://")):
        raise ReconcilerError(f"--aws-endpoint-url {url!r}: must be an http:// or https:// URL")
    for item in overrides.docker_hosts:
        name, sep, rest = item.partition("=")
        target = rest if sep and "://" not in name else item
        if not target.startswith(DOCKER_SCHEMES) or target.rstrip("/") in DOCKER_SCHEMES:
            raise ReconcilerError(
                f"--docker-host {item!r}: give URL or HOST=URL, the URL one of unix://, tcp://, ssh://"
            )


def _docker_overrides(hosts: tuple[HostSpec, ...], given: Sequence[str]) -> tuple[HostSpec, ...]:
    names = {h.name for h in hosts}
    every: str | None = None
    per_host: dict[str, str] = {}
    for item in given:
        name, sep, url = item.partition("=")
        if sep and "://" not in name:
            if name not in names:
                known = ", ".join(sorted(names))
                raise ReconcilerError(f"--docker-host {item}: no host named {name!r} (hosts: {known})")
            per_host[name] = url
        else:
            every = item
    return tuple(
        dataclasses.replace(h, docker_host=per_host.get(h.name, every), tls_cert_path=None)
        if h.name in per_host or every
        else h
        for h in hosts
    )


def resolve_settings(
    desired: DesiredState,
    registries: Mapping[str, RegistrySettings],
    region: str,
    endpoint_url: str | None,
    overrides: Overrides,
    sandbox: SandboxWorld | None = None,
    *,
    self_heal: bool = True,
    state_store: StateStoreSpec = SQLITE_STORE,
) -> tuple[DesiredState, Settings]:
    """The desired state to plan and the settings to build clients from."""
    check_overrides(overrides)
    hosts = desired.hosts
    found = dict(registries)
    if overrides.sandbox:
        if sandbox is None:
            raise ReconcilerError("--sandbox: the sandbox's addresses are unknown")
        desired, found, hosts = _sandboxed(desired, registries, region, sandbox)
        endpoint_url = sandbox.moto_url
    if overrides.aws_endpoint_url:
        endpoint_url = overrides.aws_endpoint_url
    if overrides.docker_hosts:
        hosts = _docker_overrides(hosts, overrides.docker_hosts)
    desired = dataclasses.replace(desired, hosts=hosts)
    settings = Settings(
        environment=desired.environment,
        region=region,
        aws_endpoint_url=endpoint_url,
        hosts=hosts,
        registries=found,
        state_dir=overrides.state_dir or default_state_dir(),
        sandbox=overrides.sandbox,
        self_heal=self_heal,
        state_store=state_store,
    )
    return desired, settings
