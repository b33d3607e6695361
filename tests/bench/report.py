"""The bench's output: sections, plain lines, and figures printed next to their target.

Every target line says PASS or MISS and is collected for the summary printed
at the end, so one run of ``make bench`` reads as a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    section: str
    label: str
    value: str
    target: str
    ok: bool


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    current: str = ""

    def section(self, key: str, title: str) -> None:
        self.current = key
        print(f"\n== {key}: {title}", flush=True)

    def line(self, text: str = "") -> None:
        print(f"   {text}" if text else "", flush=True)

    def target(self, label: str, value: str, target: str, ok: bool) -> None:
        """One figure and its target, marked PASS or MISS."""
        verdict = Verdict(self.current, label, value, target, ok)
        self.verdicts.append(verdict)
        print(f"   {mark(ok)}  {label}: {value}  (target {target})", flush=True)

    def summary(self) -> int:
        """Prints every target line again; returns how many were missed."""
        print("\n== Targets (issue 8)")
        if not self.verdicts:
            print("   (no target measured)")
            return 0
        width = max(len(f"{v.section}: {v.label}") for v in self.verdicts)
        for v in self.verdicts:
            name = f"{v.section}: {v.label}"
            print(f"   {mark(v.ok)}  {name:<{width}}  {v.value:>16}  target {v.target}")
        missed = sum(not v.ok for v in self.verdicts)
        print(f"   {len(self.verdicts) - missed} PASS, {missed} MISS")
        return missed


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def mb(value: float) -> str:
    return f"{value:.0f} MB"
