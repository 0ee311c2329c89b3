"""Braze's rate limit, as its `X-RateLimit-*` headers and 429s say it: the pacing of the client's
calls (`http_calls.client.Pacing`)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

MAX_RATE_LIMIT_WAIT_SECONDS = 3600.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A 429's `Retry-After` in seconds (at most MAX_RATE_LIMIT_WAIT_SECONDS), if it has one."""
    retry_after = headers.get("Retry-After", "")
    if not retry_after.strip().isdigit():
        return None
    return min(float(retry_after), MAX_RATE_LIMIT_WAIT_SECONDS)


class BrazeRateGate:
    """What Braze's `X-RateLimit-*` headers last said, shared by every thread: once no more
    requests are left than `reserve` (the calls that may be in flight), calls wait for
    `X-RateLimit-Reset`."""

    def __init__(self, *, reserve: int, logger: logging.Logger) -> None:
        self._reserve = reserve
        self._logger = logger
        self._lock = threading.Lock()
        self.remaining: int | None = None
        self._reset: float | None = None
        self._paused_until = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record a response's rate-limit headers (any case: HTTP/2 sends them lowercase).

        A `Retry-After` (on a 429) says best when requests may go again.
        """
        wait = retry_after_seconds(headers)
        if wait is not None:
            with self._lock:
                self._paused_until = time.time() + wait
                self.remaining = None
            return
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            self.remaining, self._reset = remaining, reset

    def pause_seconds(self) -> float:
        """How long the next call waits: until the reset once `reserve` or fewer are left."""
        with self._lock:
            now = time.time()
            if self._paused_until <= now and (
                self.remaining is not None
                and self._reset is not None
                and self.remaining <= self._reserve
            ):
                self._paused_until = min(self._reset, now + MAX_RATE_LIMIT_WAIT_SECONDS)
                self.remaining = None  # unknown again until the next answer
            return max(0.0, self._paused_until - now)

    def before_call(self) -> None:
        """Once the quota left could be spent by the calls in flight, wait for its reset."""
        pause = self.pause_seconds()
        if pause:
            self._logger.info(
                "Braze rate limit nearly spent: waiting %.1f s for X-RateLimit-Reset", pause
            )
            time.sleep(pause)

    def slot(self) -> contextlib.AbstractContextManager[Any]:
        """No bound beyond the read-ahead's threads."""
        return contextlib.nullcontext()

    def retry_wait(self, response: requests.Response) -> float | None:
        """Braze says when the window resets: `Retry-After` when present, else `X-RateLimit-Reset`.

        A 429 may come without Retry-After (api-notes); the reset header is epoch seconds.
        """
        wait = retry_after_seconds(response.headers)
        if wait is not None:
            return wait
        reset = response.headers.get("X-RateLimit-Reset")
        try:
            wait = float(reset) - time.time() if reset else None
        except ValueError:
            wait = None
        if wait is None:
            return None
        return min(max(wait, 0.0), MAX_RATE_LIMIT_WAIT_SECONDS)
