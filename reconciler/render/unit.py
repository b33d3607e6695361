"""The systemd unit of the loop (``reconciler install --systemd``). Pure.

``Type=notify`` with a watchdog: the loop says READY=1 once it runs and pings the watchdog
while it makes progress (:mod:`reconciler.loop.watchdog`); a hung loop stops pinging and
``Restart=always`` starts a new one. Secrets (the webhook secret, notification URLs, the
``fromEnv`` values) go in the ``EnvironmentFile``, never in the unit. Arguments are quoted
as systemd reads ``ExecStart`` (double quotes, ``%`` and ``$`` doubled).
"""

from __future__ import annotations

from dataclasses import dataclass

WATCHDOG = "10min"  # a tick with no event (a plan, an action, a wait) for this long is hung


@dataclass(frozen=True, kw_only=True)
class UnitOptions:
    executable: tuple[str, ...]  # the reconciler command, absolute (or python -m reconciler.cli)
    repo: str
    branch: str = "main"
    path: str = ""
    interval: str = "60s"
    listen: str | None = "127.0.0.1:9090"
    user: str | None = None  # None: root (the Docker socket); a user in the docker group otherwise
    environment_file: str = "/etc/reconciler/env"
    state_dir: str = "/var/lib/reconciler"
    watchdog: str = WATCHDOG


def quote(arg: str) -> str:
    """One ExecStart argument as systemd splits and expands them."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if text and all(c.isalnum() or c in "@%+=:,./-_" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(o: UnitOptions) -> str:
    args = [*o.executable, "run", "--repo", o.repo, "--branch", o.branch]
    if o.path:
        args += ["--path", o.path]
    args += ["--interval", o.interval, "--state-dir", o.state_dir, "--log-format", "json"]
    if o.listen:
        args += ["--listen", o.listen]
    command = " \\\n    ".join(" ".join(quote(a) for a in pair) for pair in _pairs(args))
    where = f"{o.path or '.'} of {o.repo} ({o.branch})"
    user = f"User={o.user}\nSupplementaryGroups=docker\n" if o.user else ""
    return f"""# reconciler install --systemd: the GitOps loop as a service
[Unit]
Description=reconciler: {where.replace("%", "%%")}
After=docker.service network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
WatchdogSec={o.watchdog}
{user}EnvironmentFile=-{o.environment_file}
ExecStart={command}
Restart=always
RestartSec=5
# a stop waits for the tick in progress (a rollout may take minutes): SIGTERM, then up to 30 min
TimeoutStopSec=30min
KillMode=mixed

[Install]
WantedBy=multi-user.target
"""


def _pairs(args: list[str]) -> list[list[str]]:
    """The command, then each flag with its value, one per line."""
    first = args.index("run") + 1
    lines: list[list[str]] = [args[:first]]
    rest = args[first:]
    for i in range(0, len(rest), 2):
        lines.append(rest[i : i + 2])
    return lines
