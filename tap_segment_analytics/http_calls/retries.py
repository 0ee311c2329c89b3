"""The retry policy both sources and the report downloads share.

Transient trouble is retried `request_max_tries` times with exponential backoff: 429, 5xx, a
connection reset, a read timeout, a body cut off midway, and a 200 whose body is not the JSON it
should be (an HTML maintenance page, an empty or truncated page). A 429 waits as long as the
source says (`rate_limit_wait`). When the tries are spent, the error names the source, the
endpoint and what the tap was reading.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.types import RequestFunc
from typing_extensions import override

from tap_segment_analytics.errors import SourceError, network_reason
from tap_segment_analytics.http_calls.deadline import AnswerTooSlow
from tap_segment_analytics.prefetch import check_open, pause, reading_context
from tap_segment_analytics.run_summary import SummarizedStream

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


class RetryingStream(SummarizedStream):
    """A REST stream whose retries follow the tap's settings and the source's rate-limit hints."""

    source_name = "the API"

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy from the tap's settings."""
        return RetryPolicy.from_config(self.config)

    def rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds a 429 asks us to wait, or None to back off exponentially."""
        return None

    def wait_for_budget(self) -> None:
        """Wait, before a request, while the source's rate limit says to (no wait by default)."""

    def call_slot(self) -> contextlib.AbstractContextManager[None]:
        """Held while a request is in flight (no bound by default)."""
        return contextlib.nullcontext()

    @property
    def reading(self) -> Mapping[str, Any]:
        """The context being read: a read-ahead worker's, else the one the sync is on."""
        return reading_context.get() or self.context or {}

    def describe(self) -> str:
        """Where a problem happened: the endpoint and what is being read."""
        return self.endpoint()

    def endpoint(self) -> str:
        """The path, with the ids the context being read fills in."""
        path = str(self.path)
        for key, value in self.reading.items():
            path = path.replace(f"{{{key}}}", str(value))
        return path

    @property
    @override
    def timeout(self) -> int:
        """Seconds to wait for a response, from `request_timeout_seconds`."""
        return int(self.config.get("request_timeout_seconds", DEFAULT_TIMEOUT_SECONDS))

    @override
    def backoff_max_tries(self) -> int:
        """Tries per request, from `request_max_tries`."""
        return self.retry_policy.max_tries

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Waits between tries: the server's hint for a 429, exponential otherwise.

        The backoff library sends each caught exception into this generator.
        """
        policy = self.retry_policy

        def waits() -> Generator[float, Any, None]:
            exception = yield 0.0
            retry = 0
            while True:
                retry += 1
                hinted = None
                response = getattr(exception, "response", None)
                if (
                    isinstance(exception, RetriableAPIError)
                    and response is not None
                    and response.status_code == HTTPStatus.TOO_MANY_REQUESTS
                ):
                    hinted = self.rate_limit_wait(response)
                exception = yield policy.wait(retry) if hinted is None else hinted

        return waits()

    @override
    def backoff_jitter(self, value: float) -> float:
        """Up to 10% extra so parallel runs do not retry in lockstep."""
        return jittered(value)

    @override
    def backoff_handler(self, details: Any) -> None:
        """One log line per retry, without URLs (they may carry credentials)."""
        self.summary.count(self.name, retries=1)
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        if isinstance(exception, RetriableAPIError):
            reason = str(exception)
        elif response is not None:
            reason = f"HTTP {response.status_code}"
        else:
            reason = network_reason(exception) if exception else "?"
        self.logger.warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            self.name,
            reason,
            self.describe(),
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait", 0.0),
        )

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """The SDK's hooks (`backoff_wait_generator`, `_max_tries`, `_jitter`, `_handler`) in a
        loop of the tap's own, whose waits end when the read-ahead a call was made for closes
        (the SDK's `backoff` sleeps through that); each try paced by `wait_for_budget`; a final
        error that names the source, endpoint and context."""

        def paced(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            while True:
                check_open()
                self.wait_for_budget()
                try:
                    with self.call_slot():
                        return func(prepared, context)
                except OutOfBudget:
                    continue  # wait_for_budget waits for the budget, or stops the run

        def retried(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            waits = self.backoff_wait_generator()
            next(waits)
            for tries in itertools.count(1):
                try:
                    return paced(prepared, context)
                except RETRIABLE as exc:
                    if tries >= self.backoff_max_tries():
                        raise
                    wait = self.backoff_jitter(waits.send(exc))
                    self.backoff_handler({"exception": exc, "tries": tries, "wait": wait})
                    pause(wait)
            raise AssertionError("unreachable")

        def request(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            try:
                return retried(prepared, context)
            except RetriableAPIError as exc:
                raise SourceError(
                    f"{exc} on {self.describe()}, still after {self.backoff_max_tries()} tries"
                ) from None
            except AnswerTooSlow as exc:
                raise SourceError(
                    f"{self.source_name} {exc} on {self.describe()}, still after "
                    f"{self.backoff_max_tries()} tries"
                ) from None
            except TRANSIENT_NETWORK_ERRORS as exc:
                raise SourceError(
                    f"could not reach {self.source_name} at {self.url_base} on "
                    f"{self.describe()}: {network_reason(exc)}, still after "
                    f"{self.backoff_max_tries()} tries"
                ) from None

        return request

    def require_json(self, response: requests.Response) -> None:
        """A 2xx body that is not JSON (an HTML page, an empty or cut-off page) is transient."""
        try:
            response_json(response)
        except (ValueError, UnicodeDecodeError):
            kind = "an empty body" if not response.content else "malformed JSON"
            raise RetriableAPIError(
                f"{self.source_name} sent {kind} (HTTP {response.status_code})", response
            ) from None


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
