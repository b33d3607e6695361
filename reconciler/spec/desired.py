"""Build the DesiredState from a loaded environment. Pure (environment variables come through ``getenv``).

:func:`build_desired` turns the validated documents of a
:class:`~reconciler.spec.loader.LoadedEnvironment` into the frozen
dataclasses of :mod:`reconciler.core.model` the planner works on: SSM parameters
(``fromEnv`` values read through the injected ``getenv`` and wrapped in
:class:`~reconciler.core.model.Sensitive`), the paths to observe, the images and
the stacks with their services. Everything is sorted by name, so the same
specs always give the same value. :func:`image_registries` tells the app
layer which registry (type, host, credentials scope) serves each image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from reconciler.core.errors import SpecError, SpecIssue
from reconciler.core.fleet import FleetSpec
from reconciler.core.image_names import api_host, is_loopback_host, normalise_repository, reference_host
from reconciler.core.model import (
    DEFAULT_HOST,
    DesiredState,
    HostSpec,
    ImageSpec,
    ParameterPath,
    ParameterSpec,
    Sensitive,
    ServiceSpec,
    StackSpec,
    Value,
)
from reconciler.core.secretsmanager import SecretRef
from reconciler.spec.compose_model import ComposeModel
from reconciler.spec.documents import MAX_VALUE_BYTES, ComposeStack, ImageEntry, RegistrySection, environment_hosts
from reconciler.spec.loader import LoadedEnvironment
from reconciler.spec.rollout_spec import launch_template, rollout_spec
from reconciler.spec.stack_paths import env_files, host_paths, project_directory, project_folder

_ECR_HOST_RE = re.compile(r"([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")

GetEnv = Callable[[str], str | None]


@dataclass(frozen=True)
class RegistrySettings:
    """How to reach the registry of an image."""

    type: Literal["oci", "ecr"]
    host: str  # host[:port], the registry part of image references (docker.io for Docker Hub)
    insecure: bool = False  # oci: plain http
    account_id: str | None = None  # ecr
    region: str | None = None  # ecr: the region of the ECR API
    username: str | None = None  # oci: pull credentials (from the environment variables the spec names)
    password: Sensitive | None = None

    @property
    def api_host(self) -> str:
        """Where its HTTP API answers (Docker Hub's is registry-1.docker.io)."""
        return api_host(self.host)


def _credentials(
    loaded: LoadedEnvironment, spec: RegistrySection, where: tuple[str, str, tuple[Hashable, ...]], getenv: GetEnv
) -> tuple[tuple[str, Sensitive] | None, list[SpecIssue]]:
    """The user name and password of ``spec`` read from the variables it names (None: anonymous)."""
    if spec.credentials is None:
        return None, []
    kind, name, loc = where
    src = loaded.source(kind, name)
    values: list[str] = []
    issues: list[SpecIssue] = []
    for field, var in (("usernameFromEnv", spec.credentials.username_from_env),
                       ("passwordFromEnv", spec.credentials.password_from_env)):  # fmt: skip
        raw = getenv(var)
        if not raw:
            state = "is not set" if raw is None else "is empty"
            issues.append(
                src.issue(
                    (*loc, "credentials", field), f"environment variable {var} {state} (pull credentials of {spec.url})"
                )
            )
        values.append(raw or "")
    if issues:
        return None, issues
    return (values[0], Sensitive(values[1])), []


def registry_settings(
    loaded: LoadedEnvironment, spec: RegistrySection, credentials: tuple[str, Sensitive] | None = None
) -> RegistrySettings:
    """Resolve a registry block (an entry's or the Environment's) to concrete settings."""
    if spec.type == "oci":
        assert spec.url is not None  # enforced by RegistrySection
        username, password = credentials if credentials is not None else (None, None)
        return RegistrySettings("oci", reference_host(spec.url), spec.insecure, username=username, password=password)
    aws = loaded.environment.spec.aws
    assert aws is not None  # an ecr registry without aws is refused by the loader
    env_region = aws.region
    host = spec.url or f"{spec.account_id}.dkr.ecr.{env_region}.amazonaws.com"
    match = _ECR_HOST_RE.fullmatch(host)
    account = spec.account_id or (match.group(1) if match else None)
    region = match.group(2) if match else env_region
    return RegistrySettings("ecr", host, False, account, region)


def _entry_registry(
    loaded: LoadedEnvironment, doc_name: str, entry_name: str, entry: ImageEntry, getenv: GetEnv
) -> tuple[RegistrySettings, list[SpecIssue]]:
    env = loaded.environment
    default = env.spec.registry
    ref = entry.reference()
    if entry.registry is not None:
        spec = entry.registry
        if ref is not None and spec.url is None:
            spec = spec.model_copy(update={"url": ref.host})
        where: tuple[str, str, tuple[Hashable, ...]] = ("Images", doc_name, ("spec", "images", entry_name, "registry"))
    elif default is not None and (ref is None or (default.url is not None and reference_host(default.url) == ref.host)):
        spec, where = default, ("Environment", env.metadata.name, ("spec", "registry"))
    elif ref is not None:  # a registry named only by the image: anonymous, https (plain http on loopback, as Docker)
        return RegistrySettings("oci", ref.host, is_loopback_host(ref.host)), []
    else:  # the loader rejects this; kept for a clear error if called otherwise
        return RegistrySettings("oci", ""), [
            SpecIssue("", None, f"spec.images.{entry_name}", "no registry for this image")
        ]
    credentials, issues = _credentials(loaded, spec, where, getenv)
    return registry_settings(loaded, spec, credentials), issues


def image_registries(
    loaded: LoadedEnvironment, getenv: GetEnv = lambda _name: "(unchecked)"
) -> dict[str, RegistrySettings]:
    """Images entry name -> the registry that serves it (a ``--registry`` override is applied
    later, by :func:`reconciler.app.settings.resolve_settings`). ``getenv`` supplies the pull
    credentials the registries name; raises SpecError naming every variable that is not set."""
    out: dict[str, RegistrySettings] = {}
    issues: list[SpecIssue] = []
    for name, (doc_name, entry) in loaded.image_entries().items():
        out[name], found = _entry_registry(loaded, doc_name, name, entry, getenv)
        issues.extend(found)
    if issues:
        raise SpecError(list(dict.fromkeys(issues)))
    return out


def _parameters(loaded: LoadedEnvironment, getenv: GetEnv) -> tuple[list[ParameterSpec], list[SpecIssue]]:
    params: list[ParameterSpec] = []
    issues: list[SpecIssue] = []
    for set_name, pset in loaded.parameter_sets.items():
        src = loaded.source("ParameterSet", set_name)
        for key in sorted(pset.spec.parameters):
            entry = pset.spec.parameters[key]
            loc: tuple[Hashable, ...] = ("spec", "parameters", key)
            name = f"{pset.spec.path}/{key}"
            value: Value | None
            managed = True
            secret: SecretRef | None = None
            source = entry.from_secrets_manager
            if source is not None:
                value, managed = None, False
                secret = SecretRef(source.secret_id, source.key, source.version_stage)
            elif entry.external:
                value, managed = None, False
            elif entry.from_env is not None:
                raw = getenv(entry.from_env)
                if raw is None:
                    issues.append(
                        src.issue(
                            (*loc, "fromEnv"),
                            f"environment variable {entry.from_env} is not set (it holds the value of {name})",
                        )
                    )
                    continue
                if raw == "":
                    issues.append(
                        src.issue(
                            (*loc, "fromEnv"),
                            f"environment variable {entry.from_env} is empty; SSM cannot store an empty value",
                        )
                    )
                    continue
                size = len(raw.encode())
                if size > MAX_VALUE_BYTES:
                    issues.append(
                        src.issue(
                            (*loc, "fromEnv"),
                            f"environment variable {entry.from_env} holds {size} bytes; an SSM standard "
                            f"parameter holds at most {MAX_VALUE_BYTES}",
                        )
                    )
                    continue
                value = Sensitive(raw)
            else:
                value = entry.joined_value()
            params.append(
                ParameterSpec(
                    name=name,
                    key=key,
                    type="SecureString" if secret is not None else entry.type,
                    value=value,
                    set_name=set_name,
                    managed=managed,
                    source=src.where(loc),
                    secret=secret,
                )
            )
    params.sort(key=lambda p: p.name)
    return params, issues


def _images(loaded: LoadedEnvironment, registries: dict[str, RegistrySettings]) -> dict[str, ImageSpec]:
    images: dict[str, ImageSpec] = {}
    for name, (_doc, entry) in loaded.image_entries().items():
        ref = entry.reference()
        host = registries[name].host
        repository = ref.repository if ref is not None else normalise_repository(host, entry.repository or "")
        images[name] = ImageSpec(
            name=name, registry=host, repository=repository, tag=entry.pinned_tag(), digest=entry.pinned_digest()
        )
    return images


def _dedupe(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _stack(
    loaded: LoadedEnvironment,
    name: str,
    stack: ComposeStack,
    compose: ComposeModel,
    images: dict[str, ImageSpec],
) -> StackSpec:
    services: list[ServiceSpec] = []
    for service_name in sorted(compose.services):
        service = compose.services[service_name]
        if service.profiles:
            continue  # not part of Compose's project unless its profile is enabled, which the reconciler never does
        settings = stack.spec.services.get(service_name)
        services.append(
            ServiceSpec(
                name=service_name,
                definition=service.definition,
                image=images[settings.image] if settings is not None and settings.image else None,
                variables=service.variables,
                environment_from=_dedupe(settings.environment_from) if settings is not None else (),
                depends_on=service.depends_on,
                healthcheck=service.healthcheck,
                host_paths=host_paths(service.raw),
            )
        )
    project_dir = project_directory(loaded.env_dir, stack.spec)
    service_files = (path for service in compose.services.values() for path in env_files(service.raw, project_dir))
    return StackSpec(
        name=name,
        project=stack.spec.project or f"{loaded.name}-{name}",
        compose_file=compose.path,
        project_dir=project_dir,
        project_folder=project_folder(loaded.env_dir, project_dir),
        services=tuple(services),
        parameter_sets=_dedupe(stack.spec.parameter_sets),
        networks=compose.networks,
        volumes=compose.volumes,
        prune_services=stack.spec.prune,
        hosts=tuple(stack.spec.hosts) or tuple(environment_hosts(loaded.environment)),
        files=tuple(dict.fromkeys([*compose.files, *service_files])),
    )


def _hosts(loaded: LoadedEnvironment) -> tuple[HostSpec, ...]:
    env = loaded.environment.spec
    if not env.hosts:
        return (HostSpec(DEFAULT_HOST, env.docker.host if env.docker else None),)
    hosts = []
    for name, entry in env.hosts.items():
        cert_path = None
        if entry.tls is not None:
            cert_path = loaded.env_dir / entry.tls.cert_path
        fleet = None
        if entry.from_auto_scaling_group is not None:
            fleet = FleetSpec(entry.from_auto_scaling_group, entry.docker, launch_template(entry.launch_template))
        hosts.append(
            HostSpec(
                name,
                None if fleet else entry.docker,
                tls_cert_path=cert_path,
                tls_verify=entry.tls.verify if entry.tls is not None else True,
                variables=dict(entry.variables),
                fleet=fleet,
            )
        )
    return tuple(hosts)


def build_desired(loaded: LoadedEnvironment, getenv: GetEnv) -> DesiredState:
    """The desired state of ``loaded``. ``getenv`` supplies fromEnv values. Raises SpecError naming
    every fromEnv variable that is missing."""
    params, issues = _parameters(loaded, getenv)
    if issues:
        raise SpecError(issues)
    paths = [
        ParameterPath(
            path=pset.spec.path,
            set_name=set_name,
            prune=pset.spec.prune,
            # a value from Secrets Manager is not read from SSM: it needs no decryption there
            decrypt=any(
                e.type == "SecureString" and e.from_secrets_manager is None for e in pset.spec.parameters.values()
            ),
        )
        for set_name, pset in loaded.parameter_sets.items()
    ]
    paths.sort(key=lambda p: (p.path, p.set_name))
    images = _images(loaded, image_registries(loaded))
    stacks = tuple(
        _stack(loaded, name, stack, loaded.compose[name], images) for name, stack in sorted(loaded.stacks.items())
    )
    return DesiredState(
        environment=loaded.name,
        owner=loaded.owner,
        parameters=tuple(params),
        parameter_paths=tuple(paths),
        images=tuple(images[name] for name in sorted(images)),
        stacks=stacks,
        hosts=_hosts(loaded),
        rollout=rollout_spec(loaded.environment.spec.rollout),
    )
