"""The retry policy both sources and the report downloads share.

Transient trouble is retried `request_max_tries` times with exponential backoff: 429, 5xx, a
connection reset, a read timeout, a body cut off midway, and a 200 whose body is not the JSON it
should be (an HTML maintenance page, an empty or truncated page). A 429 waits as long as the
source says (`rate_limit_wait`). When the tries are spent, the error names the source, the
endpoint and what the tap was reading.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_segment_analytics.prefetch import pause

DEFAULT_MAX_TRIES = 6
DEFAULT_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0
DEFAULT_TIMEOUT_SECONDS = 300
JITTER = 0.1  # up to 10% extra, so parallel runs do not retry in lockstep
_T = TypeVar("_T")

# What the network does to a request that the next try usually does not suffer: a reset, a
# timeout, a body cut off midway (ChunkedEncodingError wraps urllib3's ProtocolError /
# IncompleteRead, which is neither a ConnectionError nor a Timeout).
TRANSIENT_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionResetError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# What a request is tried again for (the SDK's list): transient network trouble, and answers
# `validate_response` says are worth another try.
RETRIABLE: tuple[type[BaseException], ...] = (RetriableAPIError, *TRANSIENT_NETWORK_ERRORS)


class OutOfBudget(RetriableAPIError):
    """The source says its request budget is spent (App Store Connect: a 429 whose
    `X-Rate-Limit` has nothing left): not a try, since `wait_for_budget` decides before the
    next one whether to wait for the budget or stop the run."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try and how long to wait between tries."""

    max_tries: int = DEFAULT_MAX_TRIES
    backoff_seconds: float = DEFAULT_BACKOFF_SECONDS

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """`request_max_tries` and `request_backoff_seconds`."""
        return cls(
            max_tries=int(config.get("request_max_tries", DEFAULT_MAX_TRIES)),
            backoff_seconds=float(config.get("request_backoff_seconds", DEFAULT_BACKOFF_SECONDS)),
        )

    def wait(self, retry: int) -> float:
        """Seconds before retry number `retry` (1 = the second try): doubling, capped."""
        return min(self.backoff_seconds * 2 ** (retry - 1), MAX_BACKOFF_SECONDS)


def jittered(seconds: float) -> float:
    """`seconds` plus up to 10%."""
    return seconds * (1 + random.uniform(0, JITTER))


class RejectionGuard:
    """Credentials rejected once may be a glitch (or an expired token): allow one retry.

    A second rejection in a row is final.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_a_row = 0

    def rejected(self) -> bool:
        """Count a rejection; True when it is the first in a row (worth one more try)."""
        with self._lock:
            self._in_a_row += 1
            return self._in_a_row == 1

    def accepted(self) -> None:
        """Credentials worked: the next rejection is a first again."""
        with self._lock:
            self._in_a_row = 0


def response_json(response: requests.Response) -> Any:
    """The response's JSON, parsed once however often it is asked for (kept on the response
    object itself, so it goes when the response goes)."""
    attributes = vars(response)
    if _PARSED_JSON not in attributes:
        attributes[_PARSED_JSON] = json.loads(response.content)
    return attributes[_PARSED_JSON]


_PARSED_JSON = "_tap_parsed_json"


def call_with_retries(
    attempt: Callable[[], _T],
    *,
    policy: RetryPolicy,
    transient: tuple[type[BaseException], ...],
    on_retry: Callable[[BaseException, int, float], None],
) -> _T:
    """Call `attempt()` until it returns; retry `transient` errors with backoff.

    The last transient error is raised when `policy.max_tries` tries are spent.
    """
    for number in range(1, policy.max_tries + 1):
        try:
            return attempt()
        except transient as exc:
            if number == policy.max_tries:
                raise
            wait = jittered(policy.wait(number))
            on_retry(exc, number, wait)
            pause(wait)
    raise AssertionError("unreachable: max_tries is at least 1")
