"""The state store backends (:class:`~reconciler.state.StateStore`): SQLite and DynamoDB. Does I/O.

:mod:`.sqlite` is the embedded default (one file in the state dir, one
machine); :mod:`.dynamodb` serves several machines sharing an environment
(its table: :mod:`.dynamodb_table`). :mod:`.heartbeat` holds a lease for a
whole run on either. :func:`this_process` names the caller as a lease owner.
"""

from __future__ import annotations

import os
import socket

from reconciler.state.lease import LeaseOwner


def this_process(command: str) -> LeaseOwner:
    """This process as a lease owner: host name, PID and ``command`` (what it runs)."""
    return LeaseOwner(socket.gethostname(), os.getpid(), command)
