"""The HTTP side of the reconcile loop: signed push webhooks, health, readiness and metrics. Does I/O.

Stands below the app layer next to the drivers: it imports the standard library,
prometheus-client and the pure core's errors, and knows nothing of specs, plans or the
world. The loop gives it callables (``on_push``, ``readiness``, ``metrics``).
"""

from __future__ import annotations

from reconciler.serve.client import send_push
from reconciler.serve.listener import DEFAULT_ADDRESS, Listener, ListenError, parse_address
from reconciler.serve.metrics import LoopMetrics, TickFacts, WebhookCounters, loop_metrics
from reconciler.serve.webhook import Push, sign, verify

__all__ = [
    "DEFAULT_ADDRESS",
    "ListenError",
    "Listener",
    "LoopMetrics",
    "Push",
    "TickFacts",
    "WebhookCounters",
    "loop_metrics",
    "parse_address",
    "send_push",
    "sign",
    "verify",
]
