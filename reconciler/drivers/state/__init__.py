"""The state store backends (:class:`~reconciler.state.StateStore`): SQLite and DynamoDB. Does I/O.

:mod:`.sqlite` is the embedded default (one file in the state dir, one
machine); :mod:`.dynamodb` serves several machines sharing an environment
(its table: :mod:`.dynamodb_table`). :mod:`.heartbeat` holds a lease for a
whole run on either. :func:`this_process` names the caller as a lease owner,
with its process start time; :func:`holder_gone` tells a holder of this machine
that no longer runs (:mod:`.liveness`), whose lease is then taken over at once.
"""

from __future__ import annotations

import os
import socket

from reconciler.drivers.state import liveness
from reconciler.state.lease import LeaseOwner


def this_process(command: str) -> LeaseOwner:
    """This process as a lease owner: host name, PID, ``command`` (what it runs) and when it started."""
    pid = os.getpid()
    return LeaseOwner(socket.gethostname(), pid, command, started=liveness.started(pid))


def holder_gone(owner: LeaseOwner) -> bool:
    """``owner`` was a process of this machine and is gone (its PID free, a zombie, or reused)."""
    return liveness.gone(owner.host, owner.pid, owner.started)
