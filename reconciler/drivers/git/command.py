"""Run the ``git`` binary with a deadline and typed, credential-free errors. Does I/O (subprocesses).

Shared by the git source (:mod:`reconciler.drivers.git.source`) and the
rollback (:mod:`reconciler.drivers.git.rollback`). Guarantees:

* **No hang.** Every call has a deadline; when it passes, the whole process
  group is killed (git and its helpers: ``git-remote-https``, ``ssh``), not
  only ``git``. Git never prompts: ``GIT_TERMINAL_PROMPT=0`` and ssh runs in
  ``BatchMode`` with a ``ConnectTimeout`` (unless ``GIT_SSH_COMMAND`` is set).
* **No credential in a message.** :func:`mask_url` hides the password (or an
  https token given as the user name) of a URL; every error message built
  here is masked, whatever git printed.
* **Typed errors** (:mod:`reconciler.core.errors`): :class:`TemporaryError` for
  unreachable, timed out, 5xx and unknown transport failures (retrying may
  help); :class:`PermanentError` for a missing branch, not a repository,
  denied or bad credentials (retrying fails the same way).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.core.errors import PermanentError, TemporaryError, WorldError

ERROR_LINES = 4
_NOISE = (
    "hint:",
    "fatal: could not read from remote repository",
    "please make sure you have the correct access rights",
    "and the repository exists",
)

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)(?P<password>:[^/@\s]*)?@")

_PERMANENT = (
    "couldn't find remote ref",
    "does not appear to be a git repository",
    "not a git repository",
    "repository not found",
    "not found",
    "authentication failed",
    "permission denied",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "returned error: 401",
    "returned error: 403",
    "returned error: 404",
    "host key verification failed",
    "unsupported protocol",
    "invalid refspec",
    "no such file or directory",
)
_REPO_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_QUARANTINE_PATH",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
    }
)


def mask_url(url: str) -> str:
    """``url`` without its secret: ``https://user:tok@h/r`` -> ``https://user:***@h/r``;
    ``https://tok@h/r`` -> ``https://***@h/r`` (a token as the user name). ssh users
    (``ssh://git@h/r``, ``git@h:r``) and local paths are kept as they are."""

    def repl(m: re.Match[str]) -> str:
        scheme, user = m.group("scheme"), m.group("user")
        if m.group("password") is not None:
            return f"{scheme}{user}:***@"
        return f"{scheme}***@" if scheme.lower() in ("http://", "https://") else m.group(0)

    return _USERINFO.sub(repl, url)


def mask_text(text: str, *urls: str) -> str:
    """``text`` with each of ``urls`` (and any URL carrying a password) masked."""
    for url in urls:
        if url and mask_url(url) != url:
            text = text.replace(url, mask_url(url))
    return mask_url(text)


def git_env(timeout: float, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every git call: no prompt, C locale (parseable messages), ssh in batch mode,
    and none of the variables that would point git at another repository (as set inside git hooks)."""
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARS}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C"})
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        connect = max(1, min(int(timeout), 30))
        env["GIT_SSH_COMMAND"] = f"ssh -o BatchMode=yes -o ConnectTimeout={connect}"
    env.update(extra or {})
    return env


def classify(stderr: str) -> type[WorldError]:
    """TemporaryError unless git's message says retrying cannot help."""
    low = stderr.lower()
    if "returned error: 5" in low or "could not resolve host" in low or "failed to connect" in low:
        return TemporaryError
    return PermanentError if any(marker in low for marker in _PERMANENT) else TemporaryError


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float,
    resource: str,
    endpoint: str = "",
    input_bytes: bytes | None = None,
    env: Mapping[str, str] | None = None,
    mask: Sequence[str] = (),
) -> bytes:
    """Run ``git <args>``; its stdout. Raises a typed error (masked, naming ``resource``)
    when git cannot run, fails, or is still running after ``timeout`` seconds."""
    cmd = ["git", *args]
    verb = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=git_env(timeout, env),
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole on timeout
        )
    except OSError as exc:
        raise PermanentError(resource, f"cannot run git: {exc.strerror}", endpoint=endpoint) from None
    try:
        out, err = proc.communicate(input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise TemporaryError(resource, f"git {verb} timed out after {timeout:g} s", endpoint=endpoint) from None
    if proc.returncode != 0:
        text = mask_text(err.decode("utf-8", "replace"), *mask).strip()
        lines = [line.strip() for line in text.splitlines() if line.strip() and not _noise(line)]
        tail = "; ".join(lines[:ERROR_LINES]) or f"exit status {proc.returncode}"
        raise classify(text)(resource, f"git {verb} failed: {tail}", endpoint=endpoint)
    return out


def _noise(line: str) -> bool:
    return line.strip().lower().startswith(_NOISE)
