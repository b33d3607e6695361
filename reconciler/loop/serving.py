"""The loop's HTTP side, wired: the listener with its status board, webhooks and metrics, and who may
read them. Does I/O (the environment's variables, a socket) when asked to start.

:class:`ServeOptions` are the ``--listen*`` flags. :func:`check_access` reads the token or password
from the variable the user named and refuses, before anything starts, a listener off loopback
without authentication (unless ``insecure``); :func:`start_listener` serves the page and
``/api/status`` from a :class:`~reconciler.loop.board.Board`, signed pushes waking the loop,
``/healthz``, ``/readyz`` and ``/metrics``; :func:`then_idle` tells the board a tick ended,
however it ended.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.loop.board import Board
from reconciler.loop.outcome import TickOutcome
from reconciler.loop.runner import Loop
from reconciler.loop.tick import LoopOptions
from reconciler.state import Trigger

if TYPE_CHECKING:
    from reconciler.serve import Auth, Listener, Push


@dataclass(frozen=True)
class ServeOptions:
    listen: str | None = None  # "127.0.0.1:9090"; None: no listener
    secret_env: str = "RECONCILER_WEBHOOK_SECRET"
    auth: str = "none"  # none | bearer | basic: who may read /, /api/status and /metrics
    auth_env: str = "RECONCILER_LISTEN_TOKEN"  # the variable holding the token (bearer) or password (basic)
    auth_user: str = "reconciler"  # basic authentication's user name
    insecure: bool = False  # serve them on an address other than loopback without authentication
    drain_seconds: float = 10.0  # how long queued notifications may still be sent when the loop stops


def then_idle(
    tick: Callable[[Trigger, str], TickOutcome], boards: list[Board]
) -> Callable[[Trigger, str], TickOutcome]:
    """``tick``, after which the status board shows no tick in progress (whatever ended it)."""

    def ticked(trigger: Trigger, actor: str) -> TickOutcome:
        try:
            return tick(trigger, actor)
        finally:
            for board in boards:
                board.tick_over()

    return ticked


def check_access(serve: ServeOptions) -> Auth | None:
    """The listener's authentication, the secret read from the variable ``serve.auth_env`` names;
    None without a listener. Raises :class:`~reconciler.serve.ListenError` when the page would be
    exposed without it (a non-loopback address without ``insecure``)."""
    if serve.listen is None:
        return None
    from reconciler.serve import Auth, ListenError, Scheme, exposure_problem, parse_address

    host = parse_address(serve.listen)[0]

    try:
        scheme = Scheme(serve.auth)
    except ValueError:
        raise ListenError(f"--listen-auth {serve.auth!r}: want none, bearer or basic") from None
    if scheme is Scheme.NONE:
        problem = exposure_problem(host, Auth(), serve.insecure)
        if problem is not None:
            raise ListenError(problem)
        return Auth()
    secret = os.environ.get(serve.auth_env, "")
    if not secret.strip():
        raise ListenError(f"--listen-auth {scheme.value}: the variable {serve.auth_env} (--listen-secret-env) "
                          "is not set or empty; it holds the token or password")  # fmt: skip
    return Auth(scheme, secret.strip().encode(), serve.auth_user)


def start_listener(
    serve: ServeOptions, options: LoopOptions, loop: Loop, say: Callable[[str], None], metrics: Callable[[], str],
    board: Board | None, auth: Auth | None,
) -> Listener | None:  # fmt: skip
    if serve.listen is None:
        return None
    from reconciler.serve import Listener

    secret = os.environ.get(serve.secret_env, "").encode()
    if not secret:
        say(f"webhook: {serve.secret_env} is not set: pushes are refused (401); /healthz and /readyz still answer")

    def pushed(push: Push) -> None:
        loop.wake(Trigger.WEBHOOK, f"push of {push.sha[:12]} by {push.pusher or 'someone'}")

    def page(history: int | None) -> str:
        assert board is not None
        return board.page() if history is None else board.page(history)

    def status(history: int | None) -> str:
        assert board is not None
        return board.api() if history is None else board.api(history)

    listener = Listener(serve.listen, secret=secret or None, branch=options.branch, on_push=pushed,
                        readiness=loop.state.readiness, metrics=metrics, log=say, auth=auth,
                        insecure=serve.insecure, page=page if board is not None else None,
                        status=status if board is not None else None)  # fmt: skip
    listener.start()  # it says where it listens
    return listener


__all__ = ["ServeOptions", "check_access", "start_listener", "then_idle"]
