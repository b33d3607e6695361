"""Compose files checked by Compose itself, offline, before anything is observed. Does I/O (Compose).

Our own reading of a compose file (reconciler.spec.compose_file) gives line
numbers and the checks a plan needs; Compose has many more rules (unknown
keys, ``extends`` of a missing file, a port like ``127.0.0.1:banana:3000``,
a missing ``env_file``). Rather than re-implement them, every stack's file
is handed to ``docker compose config`` (no engine is contacted) with the
interpolation values it will get on each of its hosts, so what Compose
would refuse at deploy time is refused at ``validate``. Across stacks, two
projects publishing the same host port on the same host are refused too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.drivers.compose import ComposeRunner
from reconciler.errors import SpecError, SpecIssue, WorldError
from reconciler.model import DesiredState, HostSpec, Sensitive, StackSpec, reveal
from reconciler.spec.source import display_path

ANY_ADDRESS = ("", "0.0.0.0", "::")


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
    External values are unknown here and left unset (Compose reads them as blank)."""
    sets = set(stack.parameter_sets) | {s for svc in stack.services for s in svc.environment_from}
    env = {p.key: reveal(p.value) for p in desired.parameters if p.set_name in sets and p.value is not None}
    env.update(host.variables)
    return env


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


def check_compose_files(desired: DesiredState, runner: ComposeRunner) -> None:
    """Raise SpecError naming every compose file Compose refuses and every host port two stacks
    would publish on one host."""
    issues: list[SpecIssue] = []
    published: list[Published] = []
    secrets = [p.value.reveal() for p in desired.parameters if isinstance(p.value, Sensitive)]
    for stack in desired.stacks:
        display = display_path(stack.compose_file)
        seen: dict[tuple[tuple[str, str], ...], object] = {}
        for host_name in stack.hosts:
            host = desired.host(host_name) or HostSpec(host_name, None)
            env = _environment(stack, desired, host)
            key = tuple(sorted(env.items()))
            if key not in seen:
                try:
                    text = runner.config(
                        stack.project, stack.project_dir, [stack.compose_file], environment=env, secrets=secrets
                    )
                    seen[key] = json.loads(text)
                except WorldError as error:
                    where = f" with host {host_name}'s values" if len(stack.hosts) > 1 else ""
                    issues.append(SpecIssue(display, None, "", f"Compose refuses this file{where}: {_errors(error)}"))
                    seen[key] = None
                except ValueError:
                    seen[key] = None
            config = seen[key]
            if isinstance(config, dict):
                published.extend(_published(config, host_name, stack.name))
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
    if issues:
        raise SpecError(issues)


def compose_runner() -> ComposeRunner | None:
    """A runner for ``config`` (offline), or None when Compose v2 is not installed."""
    from reconciler.drivers.compose import locate_compose

    try:
        return ComposeRunner(locate_compose())
    except WorldError:
        return None
