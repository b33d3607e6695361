"""A process holding an environment's lease in a state dir (renewed by a heartbeat) until killed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOLD = """
import sys, time
from pathlib import Path
from reconciler.drivers.state import this_process
from reconciler.drivers.state.heartbeat import holding
from reconciler.drivers.state.sqlite import SqliteStateStore
store = SqliteStateStore.in_state_dir(Path(sys.argv[1]))
with holding(store, sys.argv[2], this_process("reconciler apply (test holder)"), float(sys.argv[3])):
    print("held", flush=True)
    time.sleep(3600)
"""


def holder(state_dir: Path, environment: str = "dev", ttl: float = 5.0) -> subprocess.Popen[str]:
    """Start the holder; returns once it holds the lease. Kill it (-9) to let the lease expire."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state_dir), environment, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc
