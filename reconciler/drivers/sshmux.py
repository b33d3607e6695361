"""One ssh connection per Docker engine, reused (OpenSSH multiplexing) by every ssh the reconciler starts. Does I/O.

docker-py (``use_ssh_client``) and Compose (``DOCKER_HOST=ssh://...``) start one ``ssh <host>
docker system dial-stdio`` per HTTP connection: a TCP connection, a key exchange and an
authentication each time (about 0.3 s). With multiplexing the first one becomes a master that
stays in the background for :data:`PERSIST` seconds after its last session, and the others open a
session over it. The options are given on ssh's command line (``-o``), never by editing or
replacing the user's configuration: everything else (user, keys, ``ProxyJump`` to a bastion,
known_hosts) still comes from ``~/.ssh/config`` and ``/etc/ssh/ssh_config``. docker-py gets them
from :mod:`reconciler.drivers.docker.ssh` (which builds its ssh command line); Compose, whose
ssh command line cannot be given options, from an ``ssh`` wrapper script first on *its* PATH
(:meth:`Multiplexing.wrapper_dir`), which adds them and runs the real ssh.

The control sockets live in a folder of this process only (``reconciler-ssh-<pid>-*``, 0700,
made by :func:`tempfile.mkdtemp` in ``$RUNTIME_DIRECTORY``, ``$XDG_RUNTIME_DIR`` or the
temporary folder), named ``%C`` (a hash: a unix socket's path is limited to about 104 bytes),
so masters are never shared between processes or users. :meth:`Multiplexing.close` (at exit)
asks every master to exit (``ssh -O exit``) and removes the folder; a process killed before that
leaves masters that exit on their own after :data:`PERSIST` idle seconds (their folders are
removed by the next process of the same user). A master whose peer died (an instance
terminated) is dropped after ``ServerAliveInterval`` x ``ServerAliveCountMax`` seconds without an
answer, which ends the calls waiting on it; a new connection gives up after ``ConnectTimeout``.
``RECONCILER_SSH_MULTIPLEX=0`` turns it off (one ssh connection per HTTP connection again).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

ENV = "RECONCILER_SSH_MULTIPLEX"
OFF = frozenset({"0", "off", "no", "false"})
PERSIST = 60  # seconds a master stays after its last session
CONNECT_TIMEOUT = 15  # seconds to make a new connection
ALIVE_INTERVAL = 5  # seconds between keep-alives on a master's connection
ALIVE_COUNT = 3  # keep-alives unanswered before the connection is dropped
PREFIX = "reconciler-ssh-"
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on BSD/macOS
HASH_LENGTH = 40  # %C: a SHA-1 in hex
WRAPPER = "ssh"


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether multiplexing is on (it is unless ``RECONCILER_SSH_MULTIPLEX`` says 0/off/no/false). Pure."""
    return environ.get(ENV, "").strip().lower() not in OFF


def options(control_dir: Path, persist: int = PERSIST) -> list[str]:
    """ssh's ``-o`` arguments for multiplexing over sockets in ``control_dir``. Pure."""
    settings = [
        "ControlMaster=auto",
        f"ControlPath={control_dir}/%C",
        f"ControlPersist={persist}",
        f"ConnectTimeout={CONNECT_TIMEOUT}",
        f"ServerAliveInterval={ALIVE_INTERVAL}",
        f"ServerAliveCountMax={ALIVE_COUNT}",
    ]
    return [arg for setting in settings for arg in ("-o", setting)]


def wrapper_script(ssh: str, control_dir: Path, persist: int = PERSIST) -> str:
    """The ``ssh`` wrapper Compose runs: the real ``ssh`` with :func:`options` first. Pure."""
    argv = " ".join(shlex.quote(a) for a in [ssh, *options(control_dir, persist)])
    note = f"# Written by the reconciler: ssh reusing connections ({ENV}=0 turns it off)"
    return f'#!/bin/sh\n{note}\nexec {argv} "$@"\n'


def short_enough(folder: Path) -> bool:
    """A socket named by ``%C`` in ``folder`` fits in a unix socket address. Pure."""
    return len(os.fsencode(str(folder))) + 1 + HASH_LENGTH <= MAX_SOCKET_PATH


def base_dirs(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where a control folder may go, in order: systemd's RuntimeDirectory, the user's runtime folder,
    the temporary folder (pure apart from asking for the latter)."""
    found = [environ.get("RUNTIME_DIRECTORY", "").split(":")[0], environ.get("XDG_RUNTIME_DIR", "")]
    return [Path(p) for p in found if p] + [Path(tempfile.gettempdir())]


def remove_stale(base: Path) -> None:
    """Remove the control folders of this user's processes that are gone (killed before their exit)."""
    with contextlib.suppress(OSError):
        for folder in base.glob(f"{PREFIX}*"):
            pid = folder.name.removeprefix(PREFIX).split("-")[0]
            with contextlib.suppress(OSError, ValueError):
                if folder.stat().st_uid == os.getuid() and not Path(f"/proc/{int(pid)}").exists():
                    shutil.rmtree(folder, ignore_errors=True)


class Multiplexing:
    """The control folder of this process and the masters in it (made on first use)."""

    def __init__(self, bases: list[Path] | None = None, persist: int = PERSIST) -> None:
        self._bases = bases
        self.persist = persist
        self._dir: Path | None = None
        self._owner = 0  # the pid that made the folder: a forked child never removes its parent's
        self._lock = threading.Lock()

    def control_dir(self) -> Path | None:
        """This process's control folder, made on first use; None when multiplexing is off or no short
        enough folder exists (then ssh connects as it would without)."""
        if not enabled():
            return None
        with self._lock:
            if self._dir is None or self._owner != os.getpid() or not self._dir.is_dir():
                self._dir, self._owner = self._make(), os.getpid()
            return self._dir

    def _make(self) -> Path | None:
        for base in self._bases if self._bases is not None else base_dirs():
            if not base.is_dir() or not short_enough(base / f"{PREFIX}{os.getpid()}-xxxxxxxx"):
                continue
            remove_stale(base)
            with contextlib.suppress(OSError):
                return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))  # 0700
        return None

    def options(self) -> list[str]:
        """ssh's ``-o`` arguments (none when multiplexing is off)."""
        folder = self.control_dir()
        return options(folder, self.persist) if folder is not None else []

    def wrapper_dir(self) -> Path | None:
        """A folder holding the ``ssh`` wrapper, to put first on a subprocess's PATH (None when off)."""
        folder = self.control_dir()
        real = shutil.which("ssh")
        if folder is None or real is None:
            return None
        bin_dir = folder / "bin"
        script = bin_dir / WRAPPER
        text = wrapper_script(real, folder, self.persist)
        with self._lock:
            if not script.is_file() or script.read_text() != text:
                bin_dir.mkdir(mode=0o700, exist_ok=True)
                tmp = bin_dir / f".{WRAPPER}.tmp"
                tmp.write_text(text)
                tmp.chmod(0o700)
                tmp.replace(script)
        return bin_dir

    def masters(self) -> list[Path]:
        """The control sockets in this process's folder."""
        folder = self._dir
        if folder is None or not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_socket())

    def close(self) -> None:
        """Ask every master to exit and remove the folder (only in the process that made it)."""
        with self._lock:
            folder, self._dir = self._dir, None
        if folder is None or self._owner != os.getpid():
            return
        real = shutil.which("ssh")
        for socket in sorted(p for p in folder.iterdir() if p.is_socket()) if folder.is_dir() else []:
            if real is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run([real, "-o", f"ControlPath={socket}", "-O", "exit", "reconciler-master"],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=5, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


_shared: Multiplexing | None = None
_shared_lock = threading.Lock()


def shared() -> Multiplexing:
    """This process's multiplexing (closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Multiplexing()
            atexit.register(_shared.close)
        return _shared
