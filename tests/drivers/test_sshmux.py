"""drivers/sshmux: the ssh options, the wrapper Compose runs, the control folder and its cleanup (no ssh server).

The same options reaching a real engine over ssh, reused, dropped when dead and turned off, are
tested over the sandbox's fleet in tests/fleet/test_ssh_reuse.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.drivers import sshmux
from reconciler.drivers.compose import ComposeRunner
from reconciler.drivers.docker import ssh as docker_ssh

SSH = shutil.which("ssh")
needs_ssh = pytest.mark.skipif(SSH is None, reason="needs the ssh client (openssh-client)")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path (pytest's tmp_path is too long for a control socket's address)."""
    folder = Path(tempfile.mkdtemp(prefix="sshmux-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_options_name_master_path_persist_and_timeouts() -> None:
    got = sshmux.options(Path("/run/user/0/reconciler-ssh-1-ab"), persist=30)
    assert got[::2] == ["-o"] * 6
    assert got[1::2] == [
        "ControlMaster=auto",
        "ControlPath=/run/user/0/reconciler-ssh-1-ab/%C",
        "ControlPersist=30",
        f"ConnectTimeout={sshmux.CONNECT_TIMEOUT}",
        f"ServerAliveInterval={sshmux.ALIVE_INTERVAL}",
        f"ServerAliveCountMax={sshmux.ALIVE_COUNT}",
    ]


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("", True), ("0", False), ("off", False),
                                           (" False ", False), ("no", False)])  # fmt: skip
def test_turned_off_by_the_environment(value: str | None, on: bool) -> None:
    environ = {} if value is None else {sshmux.ENV: value}
    assert sshmux.enabled(environ) is on


def test_a_socket_path_must_fit_in_a_unix_address() -> None:
    assert sshmux.short_enough(Path("/tmp/reconciler-ssh-123456-abcdefgh"))
    assert not sshmux.short_enough(Path("/var/lib/" + "x" * 60))


def test_runtime_folders_come_first() -> None:
    got = sshmux.base_dirs({"RUNTIME_DIRECTORY": "/run/reconciler:/run/other", "XDG_RUNTIME_DIR": "/run/user/7"})
    assert got[:2] == [Path("/run/reconciler"), Path("/run/user/7")]
    assert sshmux.base_dirs({})[0] == got[-1]  # the temporary folder last, and alone without them


def test_docker_py_command_line_keeps_its_own_arguments_after_ours() -> None:
    opts = ["-o", "ControlMaster=auto"]
    assert docker_ssh.command("10.0.1.4", "ec2-user", "2222", opts) == [
        "ssh", "-o", "ControlMaster=auto", "-l", "ec2-user", "-p", "2222", "--", "10.0.1.4", "docker system dial-stdio",
    ]  # fmt: skip
    assert docker_ssh.command("web", None, None, []) == ["ssh", "--", "web", "docker system dial-stdio"]


def test_control_folder_is_private_per_process_and_removed(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sshmux.ENV, raising=False)
    mux = sshmux.Multiplexing([short_tmp / "missing", short_tmp])
    folder = mux.control_dir()
    assert folder is not None and folder.parent == short_tmp
    assert folder.name.startswith(f"{sshmux.PREFIX}{os.getpid()}-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert mux.control_dir() == folder  # one per process
    assert f"ControlPath={folder}/%C" in mux.options()
    mux.close()
    assert not folder.exists()
    assert mux.masters() == []


def test_off_means_no_folder_and_no_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sshmux.ENV, "0")
    mux = sshmux.Multiplexing([tmp_path])
    assert mux.control_dir() is None and mux.options() == [] and mux.wrapper_dir() is None
    assert list(tmp_path.iterdir()) == []


def test_no_short_folder_means_no_multiplexing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sshmux.ENV, raising=False)
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    assert sshmux.Multiplexing([deep]).options() == []


def test_folders_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{sshmux.PREFIX}{2**22 + 7}-zzzz"  # above pid_max's default: never running
    alive = tmp_path / f"{sshmux.PREFIX}{os.getpid()}-yyyy"
    other = tmp_path / "reconciler-something-else"
    for folder in (dead, alive, other):
        folder.mkdir()
    sshmux.remove_stale(tmp_path)
    assert not dead.exists() and alive.exists() and other.exists()


@needs_ssh
def test_wrapper_runs_the_real_ssh_with_the_options_first(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ssh -G`` prints the configuration ssh would use, without connecting: ours for multiplexing,
    the caller's own options (Compose's ConnectTimeout comes after ours) and the user's files for the rest."""
    monkeypatch.delenv(sshmux.ENV, raising=False)
    mux = sshmux.Multiplexing([short_tmp], persist=42)
    try:
        wrapper = mux.wrapper_dir()
        assert wrapper is not None
        script = wrapper / "ssh"
        assert os.access(script, os.X_OK) and stat.S_IMODE(script.stat().st_mode) == 0o700
        folder = mux.control_dir()
        done = subprocess.run([str(script), "-G", "-o", "ConnectTimeout=30", "-l", "deploy", "-p", "2200", "--",
                               "web.example"], capture_output=True, text=True, check=True, timeout=10)  # fmt: skip
        config = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
        assert config["controlmaster"] == "auto"
        path = Path(config["controlpath"])  # %C expanded: a hash of the destination
        assert path.parent == folder and len(path.name) == sshmux.HASH_LENGTH
        assert config["controlpersist"] == "42"
        assert config["serveraliveinterval"] == str(sshmux.ALIVE_INTERVAL)
        assert config["connecttimeout"] == str(sshmux.CONNECT_TIMEOUT)  # first value wins: ours
        assert config["user"] == "deploy" and config["port"] == "2200"  # the caller's own arguments
        assert mux.wrapper_dir() == wrapper  # written once
    finally:
        mux.close()


def test_compose_gets_the_wrapper_first_on_path_for_ssh_hosts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sshmux.ENV, raising=False)
    base = {"PATH": "/usr/bin:/bin", "HOME": "/root"}
    over_ssh = ComposeRunner(["docker", "compose"], docker_host="ssh://root@10.90.1.4", base_env=base)
    env = over_ssh.process_env({"TAG": "1.0"})
    first, rest = env["PATH"].split(os.pathsep, 1)
    if SSH is not None:
        assert (Path(first) / "ssh").is_file() and "ControlPath=" in (Path(first) / "ssh").read_text()
        assert rest == "/usr/bin:/bin"
    assert env["TAG"] == "1.0" and env["DOCKER_HOST"] == "ssh://root@10.90.1.4"
    assert over_ssh.env["PATH"] == "/usr/bin:/bin"  # what Compose is given otherwise is unchanged
    local = ComposeRunner(["docker", "compose"], docker_host="unix:///var/run/docker.sock", base_env=base)
    assert local.process_env()["PATH"] == "/usr/bin:/bin"
    monkeypatch.setenv(sshmux.ENV, "0")
    assert over_ssh.process_env()["PATH"] == "/usr/bin:/bin"
