"""A fleet: hosts that are the instances of an Auto Scaling group, and the rules they are rolled by. Pure.

An Environment's ``hosts`` entry with ``fromAutoScalingGroup`` is a *fleet*: a
name the stacks run on (``hosts: [web]``) that stands for the group's InService,
healthy instances, found again at every observation. :class:`FleetSpec` is what
the spec says of it (the group, the Docker URL template); :class:`RolloutSpec`
how a change reaches its instances (batches, the minimum in service, the load
balancer, the health gate, the alarms, the bake time, rollback).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.rotation import (
    DEFAULT_UNHEALTHY,
    LaunchHookSpec,
    LaunchTemplateRef,
    Rotation,
    UnhealthyReplacement,
)

#: What a fleet's Docker URL template may name, e.g. ``ssh://ec2-user@{privateIp}``.
PLACEHOLDERS = ("instanceId", "privateIp", "privateDnsName")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def template_placeholders(template: str) -> tuple[str, ...]:
    """The placeholders ``{name}`` a template names, in order."""
    return tuple(m.group(1) for m in _PLACEHOLDER_RE.finditer(template))


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (KeyError for an unknown one)."""
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)


def parse_duration(text: str) -> float | None:
    """Seconds of ``30s``, ``2m``, ``1m30s``, ``500ms``, ``1h``; None when not a duration."""
    pos = 0
    total = 0.0
    for match in _DURATION_PART_RE.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return total if text and pos == len(text) else None


def format_duration(seconds: float) -> str:
    """``90`` -> ``1m30s``; ``0.5`` -> ``500ms``; ``0`` -> ``0s``."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Amount:
    """A count of instances, or a percent of the fleet (``batch: "50%"``)."""

    value: int
    percent: bool = False

    def of(self, size: int, *, round_up: bool = True) -> int:
        """How many instances of a fleet of ``size``: a percent rounds up (``batch``) or down
        (``minHealthy``, so that the rule never asks for more than it says)."""
        if not self.percent:
            return self.value
        exact = size * self.value / 100
        return math.ceil(exact) if round_up else math.floor(exact)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True)
class HealthCheckSpec:
    """The HTTP check an instance must pass before it serves again: ``GET http://<privateIp>:<port><path>``
    answering 2xx/3xx, tried ``attempts`` times ``interval`` seconds apart (seed 001: 30 x 10 s)."""

    service: str  # the compose service it checks (it must run on the fleet)
    path: str = "/health"
    port: int = 80
    interval: float = 10.0
    attempts: int = 30
    timeout: float = 5.0

    @property
    def limit(self) -> float:
        """The longest the gate can take: every attempt timing out."""
        return self.attempts * (self.interval + self.timeout)


@dataclass(frozen=True)
class RolloutSpec:
    """How a change reaches a fleet's instances (Environment ``spec.rollout``)."""

    batch: Amount = Amount(1)  # CodeDeploy OneAtATime
    min_healthy: Amount | None = None  # None: all but the batch
    target_groups: tuple[str, ...] = ()  # empty: the group's own target groups
    drain_timeout: float | None = None  # None: the target group's deregistration delay
    health_check: HealthCheckSpec | None = None
    alarms: tuple[str, ...] = ()
    bake: float = 0.0
    auto_rollback: bool = True
    rotation: Rotation = Rotation.REPLACE
    launch_hook: LaunchHookSpec | None = None  # None: no hook; the reconciler registers new instances itself
    replace_unhealthy: UnhealthyReplacement | None = DEFAULT_UNHEALTHY  # None: never

    def batch_size(self, size: int) -> int:
        """Instances per batch in a fleet of ``size`` (at least 1, at most ``size``)."""
        return max(1, min(size, self.batch.of(size))) if size else 0

    def min_in_service(self, size: int) -> int:
        """Instances that must stay in service in a fleet of ``size``."""
        if self.min_healthy is None:
            return max(0, size - self.batch_size(size))
        return min(size, self.min_healthy.of(size, round_up=False))


@dataclass(frozen=True)
class FleetSpec:
    """Where a fleet's hosts come from: an Auto Scaling group, and how to reach each instance's engine."""

    group: str  # the Auto Scaling group's name
    docker: str  # template, e.g. ssh://ec2-user@{privateIp}
    launch_template: LaunchTemplateRef | None = None  # None: the instances' template is not managed

    def docker_url(self, instance_id: str, private_ip: str, private_dns: str) -> str:
        values = {"instanceId": instance_id, "privateIp": private_ip, "privateDnsName": private_dns}
        return fill_template(self.docker, values)
