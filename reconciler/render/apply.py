"""What an apply did, action by action, and the per-host outcome of each stack. Pure."""

from __future__ import annotations

from reconciler.core.address import host_of
from reconciler.core.report import ApplyReport
from reconciler.render.style import Lines

_STATUS_STYLES = {"done": "green", "failed": "bold red", "skipped": "yellow"}


def host_outcomes(report: ApplyReport) -> dict[str, dict[str, list[str]]]:
    """stack -> {"done" | "failed" | "not done": [hosts, in rollout order]} from the results'
    host-scoped addresses. A host is failed when one of its actions failed, not done when
    none failed but one was skipped."""
    per: dict[str, dict[str, list[str]]] = {}
    for result in report.results:
        host = host_of(result.address)
        if host is None:
            continue
        stack = result.address.partition(":")[2].split("/")[1]
        per.setdefault(stack, {}).setdefault(host, []).append(result.status)
    out: dict[str, dict[str, list[str]]] = {}
    for stack, hosts in per.items():
        for host, statuses in hosts.items():
            status = "failed" if "failed" in statuses else "not done" if "skipped" in statuses else "done"
            out.setdefault(stack, {}).setdefault(status, []).append(host)
    return out


def render_report(report: ApplyReport, color: bool = False) -> str:
    """What an apply did, action by action, and a closing line: done / failed / not done."""
    out = Lines(color)
    out.add("Apply:", "bold")
    if not report.results:
        out.add("  nothing to do")
    for result in report.results:
        parts = [("  ", ""), (f"{result.status:<7}", _STATUS_STYLES.get(result.status, "")),
                 (f" {result.address}", "bold")]
        if result.message:
            parts.append((f"  # {result.message}", "dim" if result.status == "done" else ""))
        out.parts(*parts)
    done, failed, skipped = (len(report.by_status(s)) for s in ("done", "failed", "skipped"))
    rollout = host_outcomes(report)
    if not report.ok and rollout:
        out.add()
        out.add("Hosts:", "bold")
        for stack, outcomes in rollout.items():
            described = [f"{status} on {', '.join(hosts)}" for status, hosts in outcomes.items()]
            out.add(f"  stack {stack}: " + "; ".join(described))
    out.add()
    if report.ok:
        out.add(f"Apply complete: {done} action(s) done{gone_note(report)}.", "bold green")
    else:
        out.add(
            f"Apply incomplete: {done} done, {failed} failed, {skipped} not done. "
            "Fix the failure and apply again; completed actions are not repeated.",
            "bold red",
        )
    return str(out)


def gone_note(report: ApplyReport) -> str:
    """``; 3 skipped on i-0abc, gone from its group`` when instances left their Auto Scaling group
    during the run (their actions skipped, no failure), else ""."""
    hosts = sorted({host for r in report.gone if (host := host_of(r.address) or _instance(r.address))})
    return f"; {len(report.gone)} skipped on {', '.join(hosts)}, gone from its group" if report.gone else ""


def _instance(address: str) -> str | None:
    """The instance of a rollout step's address (``instance:i-0abc/leave``)."""
    kind, _, rest = address.partition(":")
    return rest.split("/")[0] if kind == "instance" else None
