"""Run a child process and measure it: wall time, CPU (user+sys) and peak memory (ru_maxrss).

CPU and memory come from ``os.wait4`` in a small launcher (spawn.py): the
command's own usage plus that of the descendants it waited for (``docker
compose``, the Go Compose check), as the kernel accounts them. Wall time is
taken by the launcher too, so its own start-up is not counted. Output goes to
temporary files, so a chatty child never blocks on a full pipe. A command
still running when the harness is interrupted is stopped.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout that runs the bench
SPAWN = Path(__file__).with_name("spawn.py")


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    wall_s: float
    cpu_s: float  # user + sys of the child and its waited-for descendants
    maxrss_mb: float  # peak resident set of the child or its largest descendant
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Run:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.returncode}:\n{tail}")
        return self


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The harness's environment, with this checkout first on the import path (so the
    child measures the same code as the harness, not whatever the venv installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("RECONCILER_SANDBOX", None)
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def reconciler(*args: str) -> list[str]:
    """The CLI of the checkout that runs the bench, as a child process."""
    return [sys.executable, "-m", "reconciler.cli", *args]


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin_text: str | None = None,
) -> Run:
    """Runs ``argv`` under :mod:`spawn` (a small parent, so ru_maxrss is the command's own)."""
    with contextlib.ExitStack() as stack:
        out, err, inp = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(3))
        result = stack.enter_context(tempfile.NamedTemporaryFile("r", prefix="bench-spawn-"))
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        launcher = [sys.executable, "-S", "-E", str(SPAWN), result.name, *argv]
        proc = subprocess.Popen(launcher, stdin=inp, stdout=out, stderr=err, env=env, cwd=cwd)
        try:
            returncode = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        fields = result.read().split()
        if len(fields) != 3:
            raise RuntimeError(f"{' '.join(argv)}: could not be started (exit {returncode})")
        out.seek(0)
        err.seek(0)
        return Run(
            argv=tuple(argv),
            wall_s=float(fields[0]),
            cpu_s=float(fields[1]),
            maxrss_mb=int(fields[2]) / 1024,  # Linux: KiB
            returncode=returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # the launcher passes SIGTERM on to the command
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Summary:
    """Medians of repeated runs of one command."""

    wall_s: float
    cpu_s: float
    maxrss_mb: float
    runs: int

    @classmethod
    def of(cls, runs: Sequence[Run]) -> Summary:
        return cls(
            median([r.wall_s for r in runs]),
            median([r.cpu_s for r in runs]),
            median([r.maxrss_mb for r in runs]),
            len(runs),
        )


def repeat(argv: Sequence[str], times: int, *, env: Mapping[str, str] | None = None) -> Summary:
    return Summary.of([run(argv, env=env).check() for _ in range(times)])
