"""Target health as the sandbox's load balancer sees it, in DescribeTargetHealth's words. Pure.

moto reports a registered target ``healthy`` the moment it is registered and
a deregistered one ``unused`` (or leaves it out) at once. :func:`decide` says
what an ALB would report instead, from moto's state for the target and the
HAProxy server that stands for it (:class:`~.haproxy.Server`):

- registered, but the load balancer has not taken the registration yet (no
  server, or one still draining): ``initial`` (``Elb.RegistrationInProgress``);
- registered and getting requests (UP): ``healthy``;
- registered and down, having passed its checks since its registration
  (HAProxy counted an UP -> DOWN transition more than at registration, see
  :mod:`.followed`), or having failed ``fall`` checks in a row since it
  (its last check failed and it has been down for ``fall`` check intervals):
  ``unhealthy`` (``Target.ResponseCodeMismatch`` for a wrong status,
  ``Target.Timeout``, else ``Target.FailedHealthChecks``); otherwise
  ``initial`` (``Elb.InitialHealthChecking``);
- not registered (any more) while the load balancer still has the server:
  ``draining`` (``Target.DeregistrationInProgress``);
- not registered and gone from the load balancer: as moto says (left out, or
  ``unused``), except moto's ``draining`` for a terminated instance, which it
  keeps for ever: ``unused`` (``Target.NotRegistered``).

:func:`rewrite` applies it to moto's XML answer, adding a member for each
target the load balancer still drains that moto no longer lists.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reconciler.sandbox.fleet.followed import FollowedGroup
from reconciler.sandbox.fleet.haproxy import Server

REGISTERED = frozenset({"healthy", "initial", "unhealthy"})  # what moto says of a registered target
PASSED = frozenset({"", "INI", "L4OK", "L6OK", "L7OK", "L7OKC"})  # no check yet, or the last one passed
TIMEOUTS = frozenset({"L4TOUT", "L6TOUT", "L7TOUT"})


@dataclass(frozen=True)
class Health:
    """A ``TargetHealth``: its state, and the reason and description AWS gives with it."""

    state: str
    reason: str = ""
    description: str = ""


HEALTHY = Health("healthy")
REGISTERING = Health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
CHECKING = Health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
DRAINING = Health("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
NOT_REGISTERED = Health("unused", "Target.NotRegistered", "Target is not registered to the target group")


def failing(server: Server) -> Health:
    """``unhealthy``, with the reason its last check gives."""
    if server.check_status == "L7STS":
        return Health("unhealthy", "Target.ResponseCodeMismatch",
                      f"Health checks failed with these codes: [{server.check_code}]")  # fmt: skip
    if server.check_status in TIMEOUTS:
        return Health("unhealthy", "Target.Timeout", "Request timed out")
    return Health("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def decide(moto_state: str | None, server: Server | None, group: FollowedGroup) -> Health | None:
    """What an ALB would report for a target moto says ``moto_state`` of (None: moto leaves it out);
    None: as moto says (and left out when moto leaves it out)."""
    if moto_state in REGISTERED:
        if server is None or server.draining:
            return REGISTERING
        if server.up:
            return HEALTHY
        baseline = group.baselines.get(server.name)
        if baseline is not None and server.down_transitions > baseline:
            return failing(server)  # it passed its checks since its registration, and fails again
        failed_in_a_row = group.unhealthy_threshold * group.check_interval
        if server.check_status not in PASSED and server.last_change >= failed_in_a_row:
            return failing(server)
        return CHECKING
    if server is not None:
        return DRAINING
    return NOT_REGISTERED if moto_state == "draining" else None


def _port(address: str) -> str:
    return address.rpartition(":")[2]


def rewrite(body: bytes, group: FollowedGroup, servers: Mapping[str, Server], asked: Sequence[str]) -> bytes:
    """moto's DescribeTargetHealth answer with every target's health as the load balancer sees it.
    ``asked``: the targets the request named (none: every registered one, and the draining ones)."""
    root = ET.fromstring(body)
    ns = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""

    def q(*tags: str) -> str:
        return "/".join(f"{{{ns}}}{t}" if ns else t for t in tags)

    listing = root.find(q("DescribeTargetHealthResult", "TargetHealthDescriptions"))
    if listing is None:
        return body
    listed = set()
    for member in listing.findall(q("member")):
        target = member.findtext(q("Target", "Id"), "")
        listed.add(target)
        health = decide(member.findtext(q("TargetHealth", "State")), servers.get(target), group)
        if health is not None:
            _set(member, health, q)
    if not asked:
        for name in sorted(set(servers) - listed):
            health = decide(None, servers[name], group)
            if health is None:
                continue
            added = ET.SubElement(listing, q("member"))
            target_element = ET.SubElement(added, q("Target"))
            ET.SubElement(target_element, q("Id")).text = name
            ET.SubElement(target_element, q("Port")).text = _port(servers[name].address)
            ET.SubElement(added, q("HealthCheckPort")).text = "traffic-port"
            _set(added, health, q)
    return bytes(ET.tostring(root, encoding="utf-8", default_namespace=ns or None))


def _set(member: ET.Element, health: Health, q: Callable[..., str]) -> None:
    old = member.find(q("TargetHealth"))
    if old is not None:
        member.remove(old)
    element = ET.SubElement(member, q("TargetHealth"))
    ET.SubElement(element, q("State")).text = health.state
    if health.reason:
        ET.SubElement(element, q("Reason")).text = health.reason
        ET.SubElement(element, q("Description")).text = health.description
