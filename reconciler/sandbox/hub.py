"""The sandbox's hub process: the registry behind a Docker Hub-like token service. Does I/O.

:func:`ensure_hub` uses a hub that answers on the port, else starts
:mod:`.hub_server` with this interpreter (its pidfile and log in the state dir,
like the registry's and moto's), in front of the sandbox's registry. The
account's password reaches it through its environment, never its command line.
:func:`hub_answers` knows it by its Bearer challenge and its mark.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from reconciler.sandbox import processes
from reconciler.sandbox.hub_server import PASSWORD_VARIABLE, SIGNATURE
from reconciler.sandbox.layout import HOST, HUB_PASSWORD, HUB_PRIVATE, HUB_SERVICE, HUB_USERNAME
from reconciler.sandbox.processes import Clock, Daemon, Service

MODULE = "reconciler.sandbox.hub_server"


def hub_answers(port: int) -> bool:
    got = processes.http_get(f"http://{HOST}:{port}/v2/")
    if got is None or got[0] != 401:
        return False
    challenge = got[1].get("www-authenticate", "")
    return challenge.startswith("Bearer realm=") and got[1].get(SIGNATURE.lower()) == "hub"


DAEMON = Daemon("hub", "hub", "the sandbox's hub (a registry behind a token service)", MODULE, hub_answers)


def ensure_hub(state_dir: Path, port: int, upstream: str, clock: Clock, timeout: float = 15.0) -> Service:
    """The hub on ``port`` in front of the registry at ``upstream`` (started if nothing answers)."""
    address = f"{HOST}:{port}"
    found = DAEMON.running(state_dir, port, address)
    if found is not None:
        return found
    argv = [sys.executable, "-m", MODULE, "--listen", address, "--upstream", upstream,
            "--username", HUB_USERNAME, "--service", HUB_SERVICE]  # fmt: skip
    for repository in HUB_PRIVATE:
        argv += ["--private", repository]
    root = str(Path(__file__).resolve().parents[2])  # this checkout, whatever the working directory
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, PASSWORD_VARIABLE: HUB_PASSWORD, "PYTHONPATH": path}
    return DAEMON.start(state_dir, port, address, argv, clock, timeout, env=env)
