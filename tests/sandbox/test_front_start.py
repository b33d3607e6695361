"""``sandbox up`` starts the AWS front with its Auto Scaling book (``--state``), and starts again a front this
state dir started with other arguments (an older sandbox's, which had no Auto Scaling of its own); a new moto
starts with an empty book."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconciler.sandbox import moto, processes
from reconciler.sandbox.fleet.followed import DECLARATIONS
from reconciler.sandbox.layout import endpoints
from reconciler.sandbox.processes import Clock
from tests.sandbox.asgkit import free_port

pytestmark = pytest.mark.world


def test_an_older_front_is_started_again_with_its_book(tmp_path: Path) -> None:
    where, clock, events = endpoints(moto_port=free_port(), moto_internal_port=free_port()), Clock(), list[str]()
    moto.ensure_moto(tmp_path, where.moto_server_port, clock)
    try:
        old = [sys.executable, "-m", moto.FRONT_MODULE, "--port", str(where.moto_port), "--upstream",
               where.moto_server_url, "--declarations", str(DECLARATIONS)]  # fmt: skip
        before = moto.FRONT.start(tmp_path, where.moto_port, where.moto_url, old, clock, 15.0)
        moto.front_book(tmp_path).write_text("{}\n")
        aws, front = moto.ensure_aws(tmp_path, where, clock, events.append)
        assert not aws.started and front.started and front.pid != before.pid
        assert processes.cmdline(front.pid or 0)[-2:] == ["--state", str(moto.front_book(tmp_path))]
        assert moto.front_book(tmp_path).is_file()  # same moto: the book is kept
        again = moto.ensure_front(tmp_path, where.moto_port, where.moto_server_url, clock)
        assert not again.started and again.pid == front.pid
        moto.DAEMON.stop(tmp_path, clock)
        aws, front = moto.ensure_aws(tmp_path, where, clock, events.append)
        assert aws.started and not moto.front_book(tmp_path).exists()  # a new moto: nothing of the last one
    finally:
        moto.FRONT.stop(tmp_path, clock)
        moto.DAEMON.stop(tmp_path, clock)
