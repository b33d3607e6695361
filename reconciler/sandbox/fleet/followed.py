"""What a load balancer of the sandbox follows, declared for the AWS front. Does I/O (one small JSON file a balancer).

A follower (:mod:`.balancer`) writes its declaration in :data:`DECLARATIONS`
(machine-wide, like the fleet): the admin socket of its HAProxy and, for each
target group it follows (by ARN), the backend that stands for it, how often
and how strictly it checks servers, and, per server, the number of UP -> DOWN
transitions HAProxy counted right after the balancer marked it down at its
registration (its baseline: more than that since, and it has passed its
checks once and failed again). The AWS front (:mod:`reconciler.sandbox.front`)
reads the declarations to report target health as HAProxy sees it
(:mod:`.target_health`). Written atomically, and only when it changed; a
missing or unreadable declaration means "follows nothing".
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.sandbox.layout import ENGINE_RUN_ROOT

DECLARATIONS = ENGINE_RUN_ROOT / "balancers"  # <name>.json, one per load balancer
FLEET = "fleet"  # the fleet's own load balancer's declaration


@dataclass(frozen=True)
class FollowedGroup:
    """One target group a load balancer follows."""

    arn: str
    backend: str  # the HAProxy backend (the target group's name)
    check_interval: float  # seconds between two checks of a server
    unhealthy_threshold: int  # failed checks in a row before a server is down (HAProxy's fall)
    baselines: Mapping[str, int] = field(default_factory=dict)  # server -> down transitions at its registration


@dataclass(frozen=True)
class Declaration:
    name: str  # the file's stem
    admin_socket: str  # HAProxy's runtime API
    groups: tuple[FollowedGroup, ...] = ()

    def group(self, arn: str) -> FollowedGroup | None:
        return next((g for g in self.groups if g.arn == arn), None)


def path(folder: Path, name: str) -> Path:
    return folder / f"{name}.json"


def encode(declaration: Declaration) -> str:
    """The JSON text (sorted, so an unchanged declaration is the same text). Pure."""
    groups = [{"arn": g.arn, "backend": g.backend, "check_interval": g.check_interval,
               "unhealthy_threshold": g.unhealthy_threshold, "baselines": dict(sorted(g.baselines.items()))}
              for g in declaration.groups]  # fmt: skip
    return json.dumps({"admin_socket": declaration.admin_socket, "groups": groups}, sort_keys=True, indent=1) + "\n"


def decode(name: str, text: str) -> Declaration | None:
    """The declaration in ``text``; None when it is not one. Pure."""
    try:
        raw = json.loads(text)
        groups = tuple(
            FollowedGroup(
                str(g["arn"]),
                str(g["backend"]),
                float(g["check_interval"]),
                int(g["unhealthy_threshold"]),
                {str(k): int(v) for k, v in dict(g.get("baselines", {})).items()},
            )
            for g in raw["groups"]
        )
        return Declaration(name, str(raw["admin_socket"]), groups)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read(folder: Path, name: str) -> Declaration | None:
    try:
        return decode(name, path(folder, name).read_text())
    except OSError:
        return None


def read_all(folder: Path) -> list[Declaration]:
    """Every declaration in the folder (none when it does not exist)."""
    try:
        names = sorted(p.stem for p in folder.glob("*.json"))
    except OSError:
        return []
    return [d for d in (read(folder, n) for n in names) if d is not None]


def find(folder: Path, arn: str) -> tuple[Declaration, FollowedGroup] | None:
    """The load balancer that follows the target group ``arn``, if one does."""
    for declaration in read_all(folder):
        group = declaration.group(arn)
        if group is not None:
            return declaration, group
    return None


def write(folder: Path, declaration: Declaration) -> bool:
    """Write it (atomically) unless the file already says the same; True when written."""
    text = encode(declaration)
    target = path(folder, declaration.name)
    with contextlib.suppress(OSError):
        if target.read_text() == text:
            return False
    folder.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(target)
    return True


def remove(folder: Path, name: str) -> None:
    path(folder, name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
