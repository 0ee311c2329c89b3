"""Keeps the tap's pace under App Store Connect's limits.

Every response carries `X-Rate-Limit: user-hour-lim:3600;user-hour-rem:N;` (per key, rolling
hour). Past it Apple answers 429 without Retry-After, so the tap slows down before that: once
less than `LOW_WATER` of the budget is left, requests are spaced at the budget's hourly rate,
across every thread that makes them (`RateBudget`).

Apple also answers 429 to bursts of parallel calls with budget left (api-notes): `CallLimit`
bounds the calls in flight, and halves the bound after such a 429.
"""

from __future__ import annotations

import re
import threading
import time

HOUR_SECONDS = 3600.0
LOW_WATER = 0.1
_FIELD = re.compile(r"([\w-]+):(\d+)")


def parse_rate_limit(header: str | None) -> tuple[int, int] | None:
    """(hourly limit, remaining) from an `X-Rate-Limit` header, or None."""
    fields = dict(_FIELD.findall(header or ""))
    try:
        return int(fields["user-hour-lim"]), int(fields["user-hour-rem"])
    except (KeyError, ValueError):
        return None


class RateBudget:
    """The latest budget Apple reported, shared by every App Store stream of a tap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self._next_slot = 0.0

    def observe(self, header: str | None) -> None:
        """Record a response's `X-Rate-Limit` header."""
        parsed = parse_rate_limit(header)
        if parsed:
            with self._lock:
                self.limit, self.remaining = parsed

    def pause_seconds(self) -> float:
        """How long the next request waits: 0 while the budget is comfortable; once it runs
        low, long enough that requests from every thread are spaced at the hourly rate."""
        with self._lock:
            if not self.limit or self.remaining is None:
                return 0.0
            if self.remaining > self.limit * LOW_WATER:
                return 0.0
            # At the hourly rate, the rolling window frees one request per HOUR/limit seconds.
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + HOUR_SECONDS / self.limit
            return slot - now


class CallLimit:
    """At most `limit` calls in flight; a 429 halves the limit (down to one call at a time)."""

    def __init__(self, limit: int) -> None:
        self._condition = threading.Condition()
        self.limit = limit
        self._in_flight = 0

    def __enter__(self) -> None:
        """Wait for room for one more call."""
        with self._condition:
            self._condition.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1

    def __exit__(self, *exc_info: object) -> None:
        """The call has its answer (or failed)."""
        with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    def refused(self) -> None:
        """Apple refused a call with 429: fewer at once from now on."""
        with self._condition:
            self.limit = max(1, self.limit // 2)
