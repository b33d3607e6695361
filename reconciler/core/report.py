"""What an apply did: one outcome per planned action. Pure data.

The executor (reconciler.executor) produces an :class:`ApplyReport`;
reconciler.render prints it. Messages never contain secret values (the
executor masks them before recording).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["done", "failed", "skipped"]


@dataclass(frozen=True)
class ActionResult:
    address: str
    kind: str
    status: Status
    message: str = ""
    temporary: bool = False  # failed for a reason that may pass (unreachable, throttled, timed out)
    gone: bool = False  # skipped: its instance left its Auto Scaling group during the run (nothing to do there)


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ActionResult, ...] = ()

    @property
    def ok(self) -> bool:
        """Every action done, or skipped because its instance is gone (terminated or scaled in during a
        rollout: no failure, the next run plans without it)."""
        return all(r.status == "done" or (r.status == "skipped" and r.gone) for r in self.results)

    @property
    def gone(self) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if r.status == "skipped" and r.gone)

    @property
    def temporary_only(self) -> bool:
        """Every failure was temporary (a retry later may succeed without any change)."""
        failed = self.by_status("failed")
        return bool(failed) and all(r.temporary for r in failed)

    def by_status(self, status: Status) -> tuple[ActionResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    def result(self, address: str) -> ActionResult | None:
        return next((r for r in self.results if r.address == address), None)
