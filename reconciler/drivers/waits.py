"""Wait for Compose services to become healthy or to complete, several at once. Does I/O
(through the engine's listing and inspect calls).

One polling loop serves every service being waited for, so the health waits
of one dependency level run concurrently and the level takes as long as its
slowest service, not the sum. Polls are sub-second (the interval is the
caller's; the executor uses 0.2 s), so a service is seen healthy within a
fraction of a second of Docker marking it so. A service fails
(:class:`ServiceFailed`, naming it and the engine, secrets masked) when a
container is unhealthy, exits (non-zero for ``completed``), has no
healthcheck, has no container, or the timeout passes; the others are still
waited for, so one slow failure does not hide another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal, Protocol

from reconciler.core.errors import PermanentError
from reconciler.core.observed import Health
from reconciler.core.secrets import redact

OUTPUT_TAIL = 400  # characters of health-check output / logs kept in a message

Condition = Literal["healthy", "completed"]


class ServiceFailed(PermanentError):
    """A service's container did not become healthy/complete (the stack stops here)."""


class WaitableEngine(Protocol):
    endpoint: str

    def service_containers(self, project: str, service: str) -> list[dict[str, Any]]: ...
    def inspect(self, container_id: str) -> dict[str, Any] | None: ...
    def log_tail(self, container_id: str) -> str: ...


def wait_services(
    engine: WaitableEngine,
    project: str,
    wanted: Mapping[str, Condition],
    *,
    timeout: float = 120.0,
    interval: float = 0.2,
    secrets: Collection[str] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, ServiceFailed]:
    """Wait until each service of ``wanted`` meets its condition; return the ones that failed
    (service -> error), empty when all did."""
    deadline = clock() + timeout
    pending = dict(wanted)
    failed: dict[str, ServiceFailed] = {}
    outputs: dict[str, str] = {}
    while pending:
        for service, condition in list(pending.items()):
            try:
                if _met(engine, project, service, condition, secrets, outputs):
                    del pending[service]
            except ServiceFailed as exc:
                failed[service] = exc
                del pending[service]
        if not pending:
            break
        if clock() >= deadline:
            for service, condition in pending.items():
                what = f"service {project}/{service}"
                if condition == "healthy":
                    message = _with_output(f"not healthy after {timeout:g}s", outputs.get(service, ""), secrets)
                else:
                    message = f"did not complete within {timeout:g}s"
                failed[service] = ServiceFailed(what, message, endpoint=engine.endpoint)
            break
        sleep(interval)
    return failed


def _met(
    engine: WaitableEngine,
    project: str,
    service: str,
    condition: Condition,
    secrets: Collection[str],
    outputs: dict[str, str],
) -> bool:
    what = f"service {project}/{service}"
    infos = [engine.inspect(str(c["Id"])) for c in engine.service_containers(project, service)]
    found = [i for i in infos if i is not None]
    if not found:
        raise ServiceFailed(what, "has no container", endpoint=engine.endpoint)
    if condition == "healthy":
        return _healthy(engine, what, found, secrets, outputs, service)
    return _completed(engine, what, found, secrets)


def _healthy(
    engine: WaitableEngine,
    what: str,
    infos: Sequence[dict[str, Any]],
    secrets: Collection[str],
    outputs: dict[str, str],
    service: str,
) -> bool:
    states = []
    for info in infos:
        state = info.get("State") or {}
        health = state.get("Health")
        if health is None:
            raise ServiceFailed(what, "has no healthcheck, so it cannot become healthy", endpoint=engine.endpoint)
        outputs[service] = _last_health_output(health) or outputs.get(service, "")
        status = str(health.get("Status", ""))
        if status == Health.UNHEALTHY.value:
            raise ServiceFailed(what, _with_output("is unhealthy", outputs[service], secrets), endpoint=engine.endpoint)
        if state.get("Status") in {"exited", "dead"}:
            raise ServiceFailed(
                what,
                _with_output(f"exited with code {state.get('ExitCode')}", outputs[service], secrets),
                endpoint=engine.endpoint,
            )
        states.append(status)
    return all(s == Health.HEALTHY.value for s in states)


def _completed(engine: WaitableEngine, what: str, infos: Sequence[dict[str, Any]], secrets: Collection[str]) -> bool:
    done = 0
    for info in infos:
        state = info.get("State") or {}
        if state.get("Status") in {"exited", "dead"}:
            code = state.get("ExitCode")
            if code != 0:
                logs = engine.log_tail(str(info["Id"]))
                raise ServiceFailed(
                    what, _with_output(f"exited with code {code}", logs, secrets), endpoint=engine.endpoint
                )
            done += 1
    return done == len(infos)


def _last_health_output(health: dict[str, Any]) -> str:
    log: Sequence[dict[str, Any]] = health.get("Log") or []
    return str(log[-1].get("Output", "")).strip() if log else ""


def _with_output(message: str, output: str, secrets: Collection[str]) -> str:
    output = redact(output, secrets).strip()
    if len(output) > OUTPUT_TAIL:
        output = "..." + output[-OUTPUT_TAIL:]
    return f"{message}; last output: {output}" if output else message
