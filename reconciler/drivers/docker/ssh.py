"""docker-py's ``ssh://`` transport through the ssh client, made to clean up after itself. Does I/O.

With ``use_ssh_client=True`` (what :func:`reconciler.drivers.docker.client.connect`
asks for ``ssh://`` hosts, so that the user's ssh configuration, keys and
known_hosts apply as they do for the Docker CLI and Compose) docker-py 7 runs
``ssh <host> docker system dial-stdio`` for each connection inside an
``SSHSocket``. Its ``close`` terminates that ssh but neither waits for it nor
closes its pipes, nor the socket it never used (it subclasses
``socket.socket``): every connection leaves a zombie until garbage collection
and three ResourceWarnings. :func:`install` replaces that ``close``, once per
process, by one that also closes the pipes, reaps the process (killing it
after 5 s) and closes the socket; and its ``connect`` by one that runs the same
command with the options of :mod:`reconciler.drivers.sshmux` first, so that
the connections reuse one ssh connection per engine (the user's ssh
configuration still applies to everything else). docker-py imports its ssh
transport only when paramiko is installed, even for the ssh client: the
dependency is ``docker[ssh]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from typing import Any

from docker.transport import sshconn

from reconciler.drivers import sshmux

_REAPS = "_reconciler_reaps"  # marks the replacement, so install() is idempotent


def _close(sock: Any) -> None:
    proc: subprocess.Popen[bytes] | None = sock.proc
    with contextlib.suppress(OSError, ValueError):  # ssh already gone: its stdin is a broken pipe
        _original_close(sock)
    if proc is not None:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    socket.socket.close(sock)


_original_close = sshconn.SSHSocket.close


def command(host: str, user: str | None, port: str | None, mux_options: list[str]) -> list[str]:
    """docker-py's ssh command line, with ``mux_options`` before its own. Pure."""
    args = ["ssh", *mux_options]
    if user:
        args += ["-l", user]
    if port:
        args += ["-p", port]
    return [*args, "--", host, "docker system dial-stdio"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as docker-py does: Ctrl-C is the caller's


def _connect(sock: Any, **kwargs: Any) -> None:
    """docker-py's SSHSocket.connect, with connection reuse (same environment, same signals)."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    env.pop("SSL_CERT_FILE", None)
    args = command(sock.host, sock.user, sock.port, sshmux.shared().options())
    sock.proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stdin=subprocess.PIPE, preexec_fn=_ignore_sigint
    )


def install() -> None:
    """Make docker-py's SSHSocket reuse connections and reap its ssh process (idempotent)."""
    if getattr(sshconn.SSHSocket.close, _REAPS, False):
        return
    setattr(_close, _REAPS, True)
    sshconn.SSHSocket.close = _close  # type: ignore[method-assign,assignment]
    sshconn.SSHSocket.connect = _connect  # type: ignore[method-assign,assignment]
