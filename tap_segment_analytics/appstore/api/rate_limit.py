"""Keeps the tap's pace under App Store Connect's limits.

Every answer carries `X-Rate-Limit: user-hour-lim:3600;user-hour-rem:N;` (per key, a rolling
hour, shared with every other tool using the key). Past it Apple answers 429 without
Retry-After. `RateBudget` reads the header of every answer and, before every request of every
thread:

- while a tenth of the budget or more is left, does not wait;
- below that, spaces requests so that what is left would last the hour (3600 s / remaining,
  at most `SPENT_RETRY_SECONDS` apart: each answer says again what is left);
- with nothing left, asks again once a minute whether the rolling hour has freed some.

Those waits add up to at most `appstore_rate_limit_wait_seconds` a run. The wait that would
pass it stops the run instead (`RateLimitStop`, one line saying when to run again), and from
then on every thread's next request stops too: nothing keeps asking.

Apple also answers 429 to bursts of parallel calls with budget left (api-notes): `CallLimit`
bounds the calls in flight, and halves the bound after such a 429.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.prefetch import pause

HOUR_SECONDS = 3600.0
LOW_WATER = 0.1
# How long a request waits at most for the budget to grow back: once spent, one request a
# minute asks again (a refused one costs nothing of the budget).
SPENT_RETRY_SECONDS = 60.0
# Waits a run may spend on the budget by default: a dip that the rolling hour refills within
# minutes is ridden out, yet a scheduled run never hangs for the hour (it says when to retry).
DEFAULT_WAIT_SECONDS = 300.0
_FIELD = re.compile(r"([\w-]+):(\d+)")

# Apple answers bursts of parallel calls with 429 even with budget left: at most this many API
# calls are in flight (read-ahead and sync together), fewer after such a 429 (CallLimit).
API_CALLS_AT_ONCE = 3


class RateLimitStop(SourceError):
    """The hourly budget would need a longer wait than the run may spend: the run stops."""


def parse_rate_limit(header: str | None) -> tuple[int, int] | None:
    """(hourly limit, remaining) from an `X-Rate-Limit` header, or None."""
    fields = dict(_FIELD.findall(header or ""))
    try:
        return int(fields["user-hour-lim"]), int(fields["user-hour-rem"])
    except (KeyError, ValueError):
        return None


class RateBudget:
    """The latest budget Apple reported and the waits spent on it, shared by every App Store
    stream and thread of a run."""

    def __init__(
        self,
        *,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = pause,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        logger: logging.Logger | None = None,
    ) -> None:
        """`wait_seconds`: the most a run waits in all; `clock`, `sleep` and `now` (the UTC
        time the stop line names) are injected by tests."""
        self._lock = threading.Lock()
        self.wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._logger = logger
        self.limit: int | None = None
        self.remaining: int | None = None
        self.waited = 0.0
        self._next_slot = 0.0
        self._last_slot = 0.0
        self._stop: str | None = None

    def observe(self, header: str | None) -> bool:
        """Record an answer's `X-Rate-Limit` header; whether it says nothing is left."""
        parsed = parse_rate_limit(header)
        if parsed is None:
            return False
        with self._lock:
            self.limit, self.remaining = parsed
        return parsed[1] == 0

    def interval(self) -> float:
        """Seconds between requests the budget asks for now (0: no pacing)."""
        if not self.limit or self.remaining is None:
            return 0.0
        if self.remaining == 0:
            return SPENT_RETRY_SECONDS
        if self.remaining >= self.limit * LOW_WATER:
            return 0.0
        return min(HOUR_SECONDS / self.remaining, SPENT_RETRY_SECONDS)

    def before_request(self) -> float:
        """Wait, in this thread, until the budget lets the next request go; the seconds
        waited. Raises RateLimitStop when that wait would pass `wait_seconds` (and for every
        request after it)."""
        with self._lock:
            if self._stop is not None:
                raise RateLimitStop(self._stop)
            interval = self.interval()
            if not interval:
                return 0.0
            now = self._clock()
            # Spent: even the first request waits; low: the first goes, the next ones are spaced.
            slot = max(now + (interval if self.remaining == 0 else 0.0), self._next_slot)
            # The waits of threads that overlap count once: the time from now to the slot not
            # already covered by an earlier wait.
            gain = max(0.0, slot - max(now, self._last_slot))
            if self.waited + gain > self.wait_seconds:
                self._stop = self._stop_line()
                raise RateLimitStop(self._stop)
            self.waited += gain
            self._last_slot = max(self._last_slot, slot)
            self._next_slot = slot + interval
            wait = slot - now
            remaining, limit = self.remaining, self.limit
        if wait >= 1 and self._logger is not None:
            self._logger.info(
                "App Store Connect hourly budget %s (%s of %s left): waiting %.0f s",
                "spent" if remaining == 0 else "low",
                remaining,
                limit,
                wait,
            )
        if wait > 0:
            self._sleep(wait)
        return wait

    def _stop_line(self) -> str:
        """The one line of a run the budget stops (the lock is held)."""
        left = "spent" if self.remaining == 0 else f"down to {self.remaining}"
        waited = (
            "without waiting" if self.waited == 0 else f"after waiting {self.waited:.0f} s for it"
        )
        again = (self._now() + timedelta(seconds=HOUR_SECONDS)).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"App Store Connect's hourly request budget for this key is {left} "
            f"(X-Rate-Limit user-hour-rem:{self.remaining} of {self.limit}): stopped {waited} "
            f"(appstore_rate_limit_wait_seconds {self.wait_seconds:g}); what was written "
            f"stands; Apple counts a rolling hour, so a run after {again} finds the budget back"
        )


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
