"""Notifications of the loop, delivered in the background: which notices pass (:mod:`.gate`), how
each destination gets them (:mod:`.delivery`), and the queues that send them with bounded
retries (:mod:`.queue`). Never blocks or fails a deploy: a destination that is down is logged
and counted, and its messages are retried, then dropped.
"""

from __future__ import annotations

from reconciler.notify.gate import Gate
from reconciler.notify.queue import Notifier, RetryPolicy

__all__ = ["Gate", "Notifier", "RetryPolicy"]
