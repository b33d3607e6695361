"""The HTTP side of the reconcile loop: the status page, signed push webhooks, health, readiness and
metrics. Does I/O.

Stands below the app layer next to the drivers: it imports the standard library,
prometheus-client and the pure core's errors, and knows nothing of specs, plans or the
world. The loop gives it callables (``on_push``, ``readiness``, ``metrics``, ``page``, ``status``);
:mod:`.auth` decides who may read the page and the metrics.
"""

from __future__ import annotations

from reconciler.serve.auth import Auth, Scheme, exposure_problem, is_loopback
from reconciler.serve.client import send_push
from reconciler.serve.listener import DEFAULT_ADDRESS, Listener, ListenError, parse_address
from reconciler.serve.metrics import LoopMetrics, TickFacts, WebhookCounters, loop_metrics
from reconciler.serve.webhook import Push, sign, verify

__all__ = [
    "DEFAULT_ADDRESS",
    "Auth",
    "ListenError",
    "Listener",
    "LoopMetrics",
    "Push",
    "Scheme",
    "TickFacts",
    "WebhookCounters",
    "exposure_problem",
    "is_loopback",
    "loop_metrics",
    "parse_address",
    "send_push",
    "sign",
    "verify",
]
