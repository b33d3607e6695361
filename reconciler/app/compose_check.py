"""Compose files checked by Compose itself, offline, before anything is observed. Does I/O (Compose).

Our own reading of a compose file (reconciler.spec.compose_file) gives line
numbers and the checks a plan needs; Compose has many more rules (unknown
keys, a port like ``127.0.0.1:banana:3000``, a missing ``env_file``). Rather
than re-implement them, every stack's file is handed to ``docker compose
config`` (no engine is contacted) with the interpolation values it will get
on each of its hosts, so what Compose would refuse at deploy time is refused
at ``validate``; so is a variable Compose finds unset (it would substitute an
empty string), which only a file our reading does not interpolate can hold
(an ``env_file``), and a project whose services are not the ones our reading
of the compose file and the files it includes and extends found. Across
stacks, two projects publishing the same host port on the same host are
refused too. A check that passed is cached (:class:`CheckCache`) under a key
covering every file Compose reads for the stack (:func:`check_key`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.errors import SpecError, SpecIssue, WorldError
from reconciler.core.model import DesiredState, HostSpec, Sensitive, StackSpec, reveal
from reconciler.spec.source import display_path

if TYPE_CHECKING:
    from reconciler.drivers.compose import ComposeRunner

ANY_ADDRESS = ("", "0.0.0.0", "::")
#: What an external SecureString holds while checking: its value is read from SSM only when
#: planning, and it is never empty (SSM stores no empty value).
EXTERNAL_STAND_IN = "(external)"
#: Changes when a check that passed before may no longer pass (2: a variable Compose finds unset refuses;
#: 3: the key covers every file Compose reads, and Compose's services must be the reconciler's).
CHECK_VERSION = b"3\0"
_UNSET_RE = re.compile(r'The \\?"([A-Za-z_][A-Za-z0-9_]*)\\?" variable is not set')


@dataclass(frozen=True)
class Published:
    host: str
    stack: str
    service: str
    host_ip: str
    port: str
    protocol: str

    def clashes(self, other: Published) -> bool:
        same_ip = self.host_ip == other.host_ip or self.host_ip in ANY_ADDRESS or other.host_ip in ANY_ADDRESS
        return (
            self.host == other.host
            and self.stack != other.stack
            and self.port == other.port
            and self.protocol == other.protocol
            and same_ip
        )


def _errors(error: WorldError) -> str:
    """Compose's complaint without its warnings (an external secret unset here, say)."""
    text = error.message
    if text.startswith("docker compose config failed"):
        text = text.split(": ", 1)[-1]
    lines = [line for line in text.splitlines() if "level=warning" not in line]
    return " ".join(line.strip() for line in lines if line.strip()) or text


def _environment(stack: StackSpec, desired: DesiredState, host: HostSpec) -> dict[str, str]:
    """What Compose will interpolate on ``host``: the sets' declared values, then the host's variables.
    External values are unknown here: they stand as EXTERNAL_STAND_IN (set, not empty, as in SSM)."""
    sets = set(stack.parameter_sets) | {s for svc in stack.services for s in svc.environment_from}
    env = {
        p.key: EXTERNAL_STAND_IN if p.value is None else reveal(p.value)
        for p in desired.parameters
        if p.set_name in sets
    }
    env.update(host.variables)
    return env


def _unset_issue(stack: StackSpec, display: str, names: Collection[str], where: str) -> SpecIssue:
    """Compose found variables unset that our reading of the compose files did not see (in an
    ``env_file``'s values, which Compose interpolates too): it would substitute empty strings."""
    listed = ", ".join(names)
    return SpecIssue(
        display,
        None,
        "",
        f"Compose finds variable{'s' if len(names) > 1 else ''} {listed} not set{where} (in an env_file "
        f"this file or one it includes names) and would substitute an empty string: define "
        f"{'them' if len(names) > 1 else 'it'} in a ParameterSet of stack '{stack.name}' or as a host variable, "
        "or give a default ${VAR:-...}",
    )


def _services_issues(stack: StackSpec, display: str, config: object, where: str) -> list[SpecIssue]:
    """Compose's project has exactly the services the reconciler plans (its reading of the compose
    file and the files it includes and extends must agree with Compose's resolved model)."""
    services = config.get("services") if isinstance(config, dict) else None
    theirs = {str(name) for name in services} if isinstance(services, dict) else set()
    ours = {service.name for service in stack.services}
    if theirs == ours:
        return []
    parts = []
    if theirs - ours:
        parts.append(f"Compose's project{where} has service(s) {', '.join(sorted(theirs - ours))} the reconciler "
                     "does not deploy (it enables no profile: leave COMPOSE_PROFILES unset, and remove profiles: "
                     "from a service it should deploy)")  # fmt: skip
    if ours - theirs:
        parts.append(f"the reconciler reads service(s) {', '.join(sorted(ours - theirs))} that Compose's "
                     f"project{where} does not have")  # fmt: skip
    return [SpecIssue(display, None, "", "; ".join(parts) + ": the reconciler deploys only what it and Compose "
                                         "agree on; please report a file where they differ otherwise")]  # fmt: skip


def _published(config: Mapping[str, object], host: str, stack: str) -> Iterable[Published]:
    services = config.get("services")
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        ports = service.get("ports") if isinstance(service, dict) else None
        for port in ports if isinstance(ports, list) else ():
            if isinstance(port, dict) and port.get("published"):
                yield Published(
                    host,
                    stack,
                    str(name),
                    str(port.get("host_ip") or ""),
                    str(port["published"]),
                    str(port.get("protocol") or "tcp"),
                )


def check_key(stack: StackSpec, env: Mapping[str, str], secrets: Collection[str]) -> str:
    """What Compose's answer depends on, hashed: the project, its directory and compose file, the
    path and bytes of every file Compose reads for the stack (``stack.files``: the compose file,
    the files it includes and extends, the env files of its includes and services; a missing one
    as missing), ``HOME`` when one of them names ``~``, and the interpolation values with secret
    ones left out (no secret goes into the key, so none is on disk). ``""`` (never cached) when
    a file cannot be named (its path names a variable) or read."""
    digest = hashlib.sha256(CHECK_VERSION)
    for part in (stack.project, str(stack.project_dir), str(stack.compose_file)):
        digest.update(part.encode() + b"\0")
    home = False
    for path in stack.files or (stack.compose_file,):
        if "$" in str(path):
            return ""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError:
            return ""
        digest.update(str(path).encode() + b"\0")
        digest.update(b"(missing)\0" if data is None else hashlib.sha256(data).digest())
        home = home or (data is not None and b"~" in data)
    if home:
        digest.update(f"HOME={os.environ.get('HOME', '')}\0".encode())
    hidden = set(secrets)
    for key, value in sorted(env.items()):
        digest.update(f"{key}={'(sensitive)' if value in hidden else value}\0".encode())
    return digest.hexdigest()


class CheckCache:
    """Checks that passed: key -> the ports the stack publishes (``<state dir>/compose-checks.json``,
    0600; no secret: keys are hashes without secret values, ports are not secret)."""

    LIMIT = 200

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            self.entries: dict[str, object] = dict(loaded) if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def get(self, key: str) -> object:
        """The config (services and their published ports) a passed check found, or None."""
        return self.entries.get(key) if key else None

    def add(self, key: str, config: object) -> None:
        if not key or not isinstance(config, dict):
            return
        services = config.get("services")
        ports = {
            str(name): {"ports": [p for p in (svc.get("ports") or []) if isinstance(p, dict)]}
            for name, svc in (services.items() if isinstance(services, dict) else ())
            if isinstance(svc, dict)
        }
        self.entries.pop(key, None)
        self.entries[key] = {"services": ports}
        while len(self.entries) > self.LIMIT:
            self.entries.pop(next(iter(self.entries)))
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        from reconciler.drivers.files import ensure_private_dir, write_private

        try:
            ensure_private_dir(self.path.parent)
            write_private(self.path, json.dumps(self.entries))
        except OSError:
            pass  # a cache: the next run checks again


def check_compose_files(
    desired: DesiredState, runner: Callable[[], ComposeRunner | None], cache: CheckCache | None = None
) -> bool:
    """Raise SpecError naming every compose file Compose refuses and every host port two stacks
    would publish on one host. Checks that passed before with the same inputs (``cache``) are
    not run again. False when Compose is needed and not installed."""
    issues: list[SpecIssue] = []
    published: list[Published] = []
    secrets = [p.value.reveal() for p in desired.parameters if isinstance(p.value, Sensitive)]
    compose: list[ComposeRunner | None] = []

    def config(stack: StackSpec, env: Mapping[str, str]) -> tuple[object, tuple[str, ...]]:
        """The resolved project, and the variables Compose found unset (a check that found some is
        not cached)."""
        key = check_key(stack, env, secrets) if cache is not None else ""
        found = cache.get(key) if cache is not None else None
        if found is not None:
            return found, ()
        if not compose:
            compose.append(runner())
        if compose[0] is None:
            return None, ()
        done = compose[0].config(stack.project, stack.project_dir, [stack.compose_file], environment=env,
                                 secrets=secrets)  # fmt: skip
        parsed = json.loads(done.text)
        unset = tuple(dict.fromkeys(m.group(1) for w in done.warnings if (m := _UNSET_RE.search(w))))
        if cache is not None and not unset:
            cache.add(key, parsed)
        return parsed, unset

    for stack in desired.stacks:
        display = display_path(stack.compose_file)
        seen: dict[tuple[tuple[str, str], ...], object] = {}
        for host_name in stack.hosts:
            host = desired.host(host_name) or HostSpec(host_name, None)
            env = _environment(stack, desired, host)
            key = tuple(sorted(env.items()))
            where = f" with host {host_name}'s values" if len(stack.hosts) > 1 else ""
            if key not in seen:
                try:
                    seen[key], unset = config(stack, env)
                    if unset:
                        issues.append(_unset_issue(stack, display, unset, where))
                    issues.extend(_services_issues(stack, display, seen[key], where))
                except WorldError as error:
                    issues.append(SpecIssue(display, None, "", f"Compose refuses this file{where}: {_errors(error)}"))
                    seen[key] = None
                except ValueError:
                    seen[key] = None
            found = seen[key]
            if isinstance(found, dict):
                published.extend(_published(found, host_name, stack.name))
    for i, first in enumerate(published):
        for other in published[i + 1 :]:
            if first.clashes(other):
                issues.append(
                    SpecIssue(
                        display_path(next(s.compose_file for s in desired.stacks if s.name == other.stack)),
                        None,
                        f"services.{other.service}.ports",
                        f"host port {other.port}/{other.protocol} on host {other.host} is also published by "
                        f"service {first.service} of stack {first.stack}; two stacks on one host cannot share it",
                    )
                )
    if cache is not None and not issues:
        cache.save()
    if issues:
        raise SpecError(issues)
    return not compose or compose[0] is not None


def compose_runner() -> ComposeRunner | None:
    """A runner for ``config`` (offline), or None when Compose v2 is not installed."""
    from reconciler.drivers.compose import ComposeRunner, locate_compose

    try:
        return ComposeRunner(locate_compose())
    except WorldError:
        return None
