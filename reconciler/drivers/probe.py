"""An HTTP health probe: ``GET url`` answered 2xx/3xx or not. Does I/O (requests).

Used by a rollout's health gate on an instance's own address (never through the load
balancer). Redirects are not followed (a 3xx is an answer: the instance is up). A
connection refused, a reset or a timeout is an answer of its own, worded for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # "HTTP 200", "HTTP 500", "connection refused", "no answer in 5 s"


def probe(session: requests.Session, url: str, timeout: float) -> ProbeResult:
    """One ``GET url``; ok when the status is 2xx or 3xx."""
    try:
        resp = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return ProbeResult(False, f"no answer in {timeout:g} s")
    except requests.ConnectionError as exc:
        text = str(exc).lower()
        return ProbeResult(False, "connection refused" if "refused" in text else "connection failed")
    except requests.RequestException as exc:
        return ProbeResult(False, f"request failed: {type(exc).__name__}")
    with resp:
        return ProbeResult(200 <= resp.status_code < 400, f"HTTP {resp.status_code}")


def probe_session() -> requests.Session:
    """A session for probes: no proxies from the environment (the instance's address is private)."""
    session = requests.Session()
    session.trust_env = False
    return session
