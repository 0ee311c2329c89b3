"""Retry policy shared by both sources, plugged into the SDK's backoff hooks.

5xx, 429 and connection errors are retried a bounded number of times. A 429 waits as long as
the source says (`rate_limit_wait`); everything else waits exponentially longer.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_segment_analytics.run_summary import SummarizedStream, summary

DEFAULT_MAX_TRIES = 6
DEFAULT_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0
DEFAULT_TIMEOUT_SECONDS = 300
TOO_MANY_REQUESTS = 429


class RetryingStream(SummarizedStream):
    """A REST stream whose retries follow the tap's settings and the source's rate-limit hints."""

    def rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds a 429 asks us to wait, or None to back off exponentially."""
        return None

    @property
    def timeout(self) -> int:
        """Seconds to wait for a response, from `request_timeout_seconds`."""
        return int(self.config.get("request_timeout_seconds", DEFAULT_TIMEOUT_SECONDS))

    def backoff_max_tries(self) -> int:
        """Tries per request, from `request_max_tries`."""
        return int(self.config.get("request_max_tries", DEFAULT_MAX_TRIES))

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Waits between tries: the server's hint for a 429, exponential otherwise.

        The backoff library sends each caught exception into this generator.
        """
        base = float(self.config.get("request_backoff_seconds", DEFAULT_BACKOFF_SECONDS))

        def waits() -> Generator[float, Any, None]:
            exception = yield 0.0
            attempt = 0
            while True:
                hinted = None
                response = getattr(exception, "response", None)
                if (
                    isinstance(exception, RetriableAPIError)
                    and response is not None
                    and response.status_code == TOO_MANY_REQUESTS
                ):
                    hinted = self.rate_limit_wait(response)
                exponential = min(base * 2**attempt, MAX_BACKOFF_SECONDS)
                attempt += 1
                exception = yield exponential if hinted is None else hinted

        return waits()

    def backoff_jitter(self, value: float) -> float:
        """Up to 10% extra so parallel runs do not retry in lockstep."""
        return value * (1 + random.uniform(0, 0.1))

    def backoff_handler(self, details: Any) -> None:
        """One log line per retry, without URLs (they may carry credentials)."""
        summary.count(self.name, retries=1)
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        reason = (
            f"HTTP {response.status_code}" if response is not None else type(exception).__name__
        )
        self.logger.warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            self.name,
            reason,
            self.path,
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait", 0.0),
        )
