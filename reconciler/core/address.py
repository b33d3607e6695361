"""Resource addresses: how every resource is named in plans, reports and events. Pure.

``parameter:/popcon/dev/DB_HOST`` and ``image:backend`` (an Images entry's
resolution) are per environment; everything Docker holds carries its host:
``service:web-1/popcon/backend``, ``network:web-1/popcon/default``,
``volume:web-1/popcon/mysql-data``, ``image:web-1/popcon/backend`` (an image a
stack runs, present or not in that host's engine) and ``stack:web-1/popcon``.
``stack:popcon`` names a stack as a whole (e.g. an image it needs is missing); ``job:popcon/migrate``
one of its one-off jobs.
"""

from __future__ import annotations


def parameter_address(name: str) -> str:
    return f"parameter:{name}"


def image_address(name: str) -> str:
    """An Images entry (its resolution in the registry)."""
    return f"image:{name}"


def stack_image_address(host: str, stack: str, name: str) -> str:
    """An image a stack runs, as present (or not) in the host's engine."""
    return f"image:{host}/{stack}/{name}"


def stack_address(stack: str) -> str:
    """A stack on all its hosts."""
    return f"stack:{stack}"


def host_stack_address(host: str, stack: str) -> str:
    """A stack on one host (its Compose project there)."""
    return f"stack:{host}/{stack}"


def network_address(host: str, stack: str, key: str) -> str:
    return f"network:{host}/{stack}/{key}"


def duplicate_network_address(host: str, stack: str, key: str, network_id: str) -> str:
    """One of several networks with a project network's name: ``network:web-1/popcon/default@<id12>``."""
    return f"network:{host}/{stack}/{key}@{network_id[:12]}"


def volume_address(host: str, stack: str, key: str) -> str:
    return f"volume:{host}/{stack}/{key}"


def service_address(host: str, stack: str, service: str) -> str:
    return f"service:{host}/{stack}/{service}"


def container_address(host: str, stack: str, name: str) -> str:
    """One container by name (a leftover of an interrupted Compose recreate)."""
    return f"container:{host}/{stack}/{name}"


def job_address(stack: str, job: str) -> str:
    """A one-off job of a stack (``spec.jobs``): ``job:popcon/migrate``. It runs once for the stack,
    on one of its hosts (the action says which), so the address names no host."""
    return f"job:{stack}/{job}"


def host_of(address: str) -> str | None:
    """The host part of a host-scoped address (service, network, volume, a stack's image, a
    stack on one host), else None."""
    kind, _, rest = address.partition(":")
    parts = rest.split("/")
    if kind in ("service", "network", "volume", "container") and len(parts) == 3:
        return parts[0]
    if kind == "image" and len(parts) == 3:
        return parts[0]
    if kind == "stack" and len(parts) == 2:
        return parts[0]
    return None


def fleet_address(fleet: str) -> str:
    """A fleet (an Environment hosts entry fromAutoScalingGroup): ``fleet:web``."""
    return f"fleet:{fleet}"


def instance_address(instance_id: str) -> str:
    """One instance of a fleet: ``instance:i-0abc...``."""
    return f"instance:{instance_id}"


def target_group_address(name: str) -> str:
    return f"targetgroup:{name}"


def alarm_address(name: str) -> str:
    return f"alarm:{name}"
