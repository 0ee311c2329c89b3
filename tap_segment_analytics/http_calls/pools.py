"""HTTP sessions whose connection pools keep a connection for every thread that uses them.

requests keeps at most 10 connections per host in a session's pool. At `braze_concurrency` 16,
the connections beyond 10 were closed after each answer (a new TCP and TLS handshake for the
next call) and urllib3 logged `Connection pool is full, discarding connection` for each.
"""

from __future__ import annotations

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter


def keep_connections(session: requests.Session, at_once: int) -> requests.Session:
    """Let `session` keep `at_once` connections per host alive; returns it."""
    if at_once > DEFAULT_POOLSIZE:
        for prefix in ("https://", "http://"):
            session.mount(
                prefix, HTTPAdapter(pool_connections=DEFAULT_POOLSIZE, pool_maxsize=at_once)
            )
    return session
