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
after 5 s) and closes the socket. docker-py imports its ssh transport only
when paramiko is installed, even for the ssh client: the dependency is
``docker[ssh]``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from typing import Any

from docker.transport import sshconn

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


def install() -> None:
    """Make docker-py's SSHSocket.close reap its ssh process and close what it holds (idempotent)."""
    if getattr(sshconn.SSHSocket.close, _REAPS, False):
        return
    setattr(_close, _REAPS, True)
    sshconn.SSHSocket.close = _close  # type: ignore[method-assign,assignment]
