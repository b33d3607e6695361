"""The loop as a service: the systemd unit `reconciler install --systemd` writes (checked by
systemd-analyze), the sd_notify protocol of a real `reconciler run` against a socket the test
listens on (READY, STATUS, WATCHDOG pings, STOPPING), a hung tick that stops the pings, and the
loop's log as JSON lines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.core.events import ActionFinished, DeployStarted, UnitFinished
from reconciler.drivers.systemd import Notifier
from reconciler.loop.watchdog import Progress, Watchdog
from reconciler.render.jsonlog import event_json, message_json
from reconciler.render.unit import UnitOptions, quote, systemd_unit


def unit_text(tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "reconciler.service"
    code = cli.main(["install", "--systemd", "--repo", "git@github.com:popcon/gitops.git", "--path",
                     "environments/dev", "--executable", "/usr/bin/true", "--output", str(out), *extra])  # fmt: skip
    assert code == 0
    return out.read_text()


def test_the_unit_is_type_notify_with_a_watchdog_and_systemd_accepts_it(tmp_path: Path) -> None:
    text = unit_text(tmp_path, "--user", "reconciler", "--interval", "30s")
    wanted = ("Type=notify", "NotifyAccess=main", "WatchdogSec=10min", "Restart=always", "User=reconciler",
              "SupplementaryGroups=docker", "EnvironmentFile=-/etc/reconciler/env", "WantedBy=multi-user.target")
    for line in wanted:
        assert f"\n{line}\n" in text, line
    assert "--log-format json" in text and "--interval 30s" in text and "--listen 127.0.0.1:9090" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (scripts/install-system.sh installs systemd)")
    checked = subprocess.run([analyze, "verify", str(tmp_path / "reconciler.service")], capture_output=True,
                             text=True, check=False)  # fmt: skip
    complaints = [ln for ln in checked.stderr.splitlines() if "reconciler.service" in ln]
    assert checked.returncode == 0 and complaints == [], checked.stderr


def test_arguments_are_quoted_as_systemd_reads_them() -> None:
    assert quote("environments/dev") == "environments/dev"
    assert quote("a b") == '"a b"' and quote('say "hi"') == '"say \\"hi\\""'
    assert quote("100%") == "100%%" and quote("$HOME") == '"$$HOME"'
    unit = systemd_unit(UnitOptions(executable=("/usr/bin/python3", "-m", "reconciler.cli"), repo="/srv/my repo",
                                    listen=None))  # fmt: skip
    assert 'ExecStart=/usr/bin/python3 -m reconciler.cli run \\\n    --repo "/srv/my repo"' in unit
    assert "--listen" not in unit


def test_printed_without_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["install", "--systemd", "--repo", "https://github.com/o/r.git"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("# reconciler install --systemd") and "--repo https://github.com/o/r.git" in out


# ---- sd_notify ---------------------------------------------------------------------------------


class Listener:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in list(self.messages) if m.startswith(prefix) or f"\n{prefix}" in m]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} x {prefix!r} not received: {self.messages}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[Path, Listener]]:
    path = tmp_path / "notify.sock"
    listener = Listener(path)
    yield path, listener
    listener.close()


def test_a_running_loop_speaks_sd_notify_and_logs_json(tmp_path: Path, notify_socket: tuple[Path, Listener]) -> None:
    path, heard = notify_socket
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q",
                    "--allow-empty", "-m", "empty"], check=True)  # fmt: skip
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    argv = [sys.executable, "-m", "reconciler.cli", "run", "--repo", str(repo), "--path", "environments/dev",
            "--interval", "1s", "--state-dir", str(tmp_path / "state")]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        assert heard.wait_for("READY=1")[0].startswith("READY=1\nSTATUS=watching ")
        heard.wait_for("STATUS=tick 2 ", timeout=60)  # a status after every tick (they fail: no such folder)
        heard.wait_for("WATCHDOG=1", count=5)  # pinged every 0.2 s while the loop waits
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
    heard.wait_for("STOPPING=1")
    records = [json.loads(line) for line in err.splitlines()]  # stderr is no terminal: JSON lines
    assert all({"time", "level", "event"} <= set(r) for r in records)
    ticks = [r for r in records if r["event"] == "Message" and r["message"].startswith("tick ")]
    assert len(ticks) >= 2 and "environments/dev" in ticks[0]["message"]


def test_the_notifier_does_nothing_outside_systemd_and_speaks_to_abstract_sockets() -> None:
    assert not Notifier({}).enabled and Notifier({}).ping() is False
    assert Notifier({"WATCHDOG_USEC": "2000000"}).watchdog == 2.0
    assert Notifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog is None  # another process's
    name = f"reconciler-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": f"@{name}"}).ready("up")
        assert sock.recv(100) == b"READY=1\nSTATUS=up"


class Pings:
    watchdog: float | None = 0.2

    def __init__(self) -> None:
        self.count = 0

    def ping(self) -> bool:
        self.count += 1
        return True


def test_a_hung_tick_stops_the_pings_a_waiting_loop_keeps_them() -> None:
    now = [0.0]
    progress = Progress(clock=lambda: now[0])
    pings = Pings()
    dog = Watchdog(pings, progress).start()
    try:
        deadline = time.monotonic() + 10
        while pings.count < 3 and time.monotonic() < deadline:  # waiting between ticks: alive
            time.sleep(0.02)
        assert pings.count >= 3
        progress.tick(running=True)
        now[0] += 0.1
        progress.beat()  # an event within the period: still alive
        assert progress.alive(within=0.2)
        now[0] += 5.0  # then nothing for 5 s inside the tick: hung
        assert not progress.alive(within=0.2)
        time.sleep(0.25)  # a ping already decided may land
        before = pings.count
        time.sleep(0.5)  # at least two periods' halves
        assert pings.count == before
        progress.tick(running=False)  # the tick ended after all: pings again
        deadline = time.monotonic() + 10
        while pings.count == before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pings.count > before
    finally:
        dog.close()


def test_json_lines_carry_the_typed_events_fields() -> None:
    at = 1_790_000_000.25
    started = json.loads(event_json(DeployStarted("dev", "a" * 40, "Dev", "bump", "new revision", drift=False), at))
    assert started == {"time": "2026-09-21T14:13:20.250Z", "level": "info", "event": "DeployStarted",
                       "environment": "dev", "sha": "a" * 40, "author": "Dev", "subject": "bump",
                       "reason": "new revision", "drift": False}  # fmt: skip
    failed = json.loads(event_json(ActionFinished("service:web", "recreate_service", "failed", "unhealthy"), at))
    assert failed["level"] == "error" and failed["status"] == "failed"
    unit = json.loads(event_json(UnitFinished("u", "web-1", "popcon", "done"), at))
    assert unit["level"] == "info" and unit["host"] == "web-1"
    line = message_json('tick 1 (poll) dev: applied\n  error: "x"', at)
    assert "\n" not in line and json.loads(line)["message"].endswith('error: "x"')
