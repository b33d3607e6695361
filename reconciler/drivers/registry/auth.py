"""Registry pull credentials, and keeping them until shortly before they expire. Pure (logins are injected).

:class:`RegistryAuth` is what the engine pulls with (the password masked when
printed). :func:`cached_logins` keeps each registry's credentials from its
login (e.g. :meth:`~reconciler.drivers.registry.ecr.EcrRegistry.login`)
until ``LOGIN_MARGIN`` seconds before they expire (ECR's: 12 hours), by an
injected clock, so tests never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.core.model import Sensitive

LOGIN_MARGIN = 300.0  # refresh pull credentials this long before they expire

Clock = Callable[[], float]


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for pulling from one registry (the password is masked when printed).

    ``expires_at``: epoch seconds after which they no longer work (None: unknown/never).
    """

    username: str
    password: Sensitive
    server: str
    expires_at: float | None = None

    def docker_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password.reveal(), "serveraddress": self.server}


def cached_logins(
    logins: Mapping[str, Callable[[], RegistryAuth]],
    *,
    clock: Clock = time.time,
    margin: float = LOGIN_MARGIN,
) -> Callable[[str], RegistryAuth | None]:
    """Registry host -> pull credentials (e.g. ``EcrRegistry.login``), each kept until ``margin``
    seconds before its ``expires_at`` (by ``clock``, epoch seconds), then fetched again; hosts
    without an entry get None (anonymous pulls). Credentials that look expired as soon as they
    arrive (a clock far off, or moto's fixed 2015 date) are kept ``margin`` seconds: logging in
    again at once would not help, and this bounds the logins to one per ``margin``."""
    cache: dict[str, tuple[RegistryAuth, float]] = {}  # host -> (credentials, refresh at)

    def auth_for(registry: str) -> RegistryAuth | None:
        if registry not in logins:
            return None
        now = clock()
        cached = cache.get(registry)
        if cached is not None and now < cached[1]:
            return cached[0]
        auth = logins[registry]()
        refresh_at = float("inf") if auth.expires_at is None else auth.expires_at - margin
        if refresh_at <= now:
            refresh_at = now + margin
        cache[registry] = (auth, refresh_at)
        return auth

    return auth_for
