"""A small parent for the measured command: runs it, writes its wall time, CPU and peak RSS to a file.

Run as a script with ``python -S`` (standard library only). Why: a child's
ru_maxrss starts at its parent's memory (Linux records the old address
space's high-water mark at exec, and fork/vfork share or copy the parent's),
so a child of the harness (boto3, docker: ~85 MB) would never show less. This
launcher is a few MB, so the figure is the command's own. The command runs in
a process group of its own; SIGTERM to the launcher is passed on to the whole
group (a script's `docker compose` included), which is how the harness stops
it on Ctrl-C.

    python -S spawn.py RESULT_FILE COMMAND [ARG...]
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    result, command = argv[0], argv[1:]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    start = time.perf_counter()
    pid = os.posix_spawnp(
        command[0], command, os.environ, setpgroup=0, setsigdef=(signal.SIGINT, signal.SIGTERM)
    )
    signal.signal(signal.SIGTERM, lambda _sig, _frame: os.killpg(pid, signal.SIGTERM))
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(result, "w") as out:
        out.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
