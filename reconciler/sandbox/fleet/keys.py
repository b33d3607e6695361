"""The fleet's ssh: the sandbox's key pair, the instances' host key, known_hosts and the client configuration. Does I/O.

A real instance is reached as ``ssh://ec2-user@<privateIp>`` with a key the
team holds and a host key it trusts; the sandbox does the same with files of
its own under ``<state dir>/fleet/ssh/`` (private keys 0600, generated once
by ``ssh-keygen``): one client key, the only one the instances' sshd accept;
one host key shared by every instance, trusted for the subnet's addresses in
``known_hosts``. :func:`install_client_config` writes the drop-in
``/etc/ssh/ssh_config.d/reconciler-sandbox.conf`` (Debian's ssh_config
includes that folder) so that every ssh client -- the Docker CLI, ``docker
compose`` and the Docker SDK with ``use_ssh_client`` -- reaches the subnet's
hosts as root with that key and checks their host key; ``down`` removes it.
``<state dir>/fleet/ssh/config`` holds the same lines for ``ssh -F``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox import processes
from reconciler.sandbox.fleet.layout import SSH_CONFIG_DROPIN, SSH_USER, SUBNET_HOSTS, FleetFiles

MARKER = "# Written by the reconciler sandbox"


def _keygen(path: Path, comment: str) -> None:
    if path.is_file() and path.with_suffix(".pub").is_file():
        return
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    keygen = processes.tool("ssh-keygen", "openssh-client")
    got = processes.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    if got.returncode != 0:
        raise ReconcilerError(f"ssh-keygen could not make {path}: {got.stderr.strip()}")
    path.chmod(0o600)


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    if path.is_file() and path.read_text() == text:
        path.chmod(mode)
        return
    path.write_text(text)
    path.chmod(mode)


def client_config(files: FleetFiles) -> str:
    """The ssh client configuration for the subnet's hosts."""
    return "\n".join([
        f"{MARKER} (state dir {files.state_dir}); `reconciler sandbox down` removes it.",
        f"Host {SUBNET_HOSTS}",
        f"    User {SSH_USER}",
        f"    IdentityFile {files.client_key}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {files.known_hosts}",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    ConnectTimeout 5",
        "    LogLevel ERROR",
        "",
    ])  # fmt: skip


def ensure_keys(files: FleetFiles) -> None:
    """The key pair, host key, authorized_keys, known_hosts and ``config`` exist (made once)."""
    files.ssh_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        files.root.chmod(0o700)
        files.ssh_dir.chmod(0o700)
    _keygen(files.client_key, "reconciler-sandbox")
    _keygen(files.host_key, "reconciler-sandbox-instances")
    _write(files.authorized_keys, files.client_key.with_suffix(".pub").read_text())
    host_public = " ".join(files.host_key.with_suffix(".pub").read_text().split()[:2])
    _write(files.known_hosts, f"{SUBNET_HOSTS} {host_public}\n", 0o644)
    _write(files.ssh_config, client_config(files), 0o644)


def install_client_config(files: FleetFiles) -> bool:
    """Write the system-wide drop-in for the subnet's hosts; True if it changed. Refuses to
    overwrite a file the sandbox did not write."""
    text = client_config(files)
    if SSH_CONFIG_DROPIN.is_file():
        current = SSH_CONFIG_DROPIN.read_text()
        if current == text:
            return False
        if not current.startswith(MARKER):
            raise ReconcilerError(f"{SSH_CONFIG_DROPIN} exists and was not written by the sandbox; move it away")
    if not SSH_CONFIG_DROPIN.parent.is_dir():
        raise ReconcilerError(
            f"{SSH_CONFIG_DROPIN.parent} not found; install the Debian package openssh-client (make install)"
        )
    tmp = SSH_CONFIG_DROPIN.with_suffix(".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    tmp.replace(SSH_CONFIG_DROPIN)
    return True


def remove_client_config(files: FleetFiles) -> bool:
    """Remove the drop-in if this state dir wrote it; True if removed."""
    try:
        current = SSH_CONFIG_DROPIN.read_text()
    except OSError:
        return False
    if not current.startswith(f"{MARKER} (state dir {files.state_dir})"):
        return False
    SSH_CONFIG_DROPIN.unlink(missing_ok=True)
    return True
