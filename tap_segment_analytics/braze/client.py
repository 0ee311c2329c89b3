"""The base stream for Braze: URL, Bearer auth, rate-limit waits and error sorting.

Every answer is read by what it says, here and only here: a 429 or 5xx is retried; 401 and 403
(the key, its permissions) stop the source with one line; any other 4xx, and a 200 whose
`message` is not "success" or that carries `errors`, is Braze refusing that request
(`BrazeRefused`): fatal on `/segments/list`, the segment skipped for the run on a segment's call.
A 200 without `message` counts as success when it has no `errors`: Braze marks `message`
required, but a missing status is not a refusal, and what the body holds is checked where it is
read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk import StreamSchema
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_segment_analytics.braze.endpoint import braze_base_url
from tap_segment_analytics.errors import SourceError, redact
from tap_segment_analytics.http_calls.retries import RejectionGuard, response_json
from tap_segment_analytics.rest_stream import TapStream
from tap_segment_analytics.schemas import SCHEMAS

if TYPE_CHECKING:
    from tap_segment_analytics.braze.runtime import BrazeRuntime

# Each endpoint needs its own permission on the REST API key.
PERMISSIONS = {
    "/segments/list": "segments.list",
    "/segments/details": "segments.details",
    "/segments/data_series": "segments.data_series",
}
MAX_RATE_LIMIT_WAIT_SECONDS = 3600.0
SUCCESS = "success"  # the `message` of every answer Braze completed without errors
_SHOWN_ERRORS = 3  # of an answer's `errors`, in its one line
# Requests in flight at once: 16 made 200 segments x 400 days 10x faster than one at a time
# with 50 ms a request (benchmarks/concurrency.py); 32 was no faster on 2 cores.
DEFAULT_CONCURRENCY = 16


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A 429's `Retry-After` in seconds (at most MAX_RATE_LIMIT_WAIT_SECONDS), if it has one."""
    retry_after = headers.get("Retry-After", "")
    if not retry_after.strip().isdigit():
        return None
    return min(float(retry_after), MAX_RATE_LIMIT_WAIT_SECONDS)


class BrazeRefused(SourceError):
    """Braze answered a request with an error about what was asked (see the module's
    docstring); `reason` is Braze's own message, the same for every segment refused alike."""

    def __init__(self, line: str, reason: str) -> None:
        super().__init__(line)
        self.reason = reason


def answer_error(body: Any) -> tuple[str, str] | None:
    """What a 200 body says went wrong, as (reason, detail): its `message` when not "success",
    and its `errors`; None for a success. The reason leaves the errors out: they may name the
    segment, and refusals are counted by reason."""
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    errors = body.get("errors")
    if (message is None or message == SUCCESS) and not errors:
        return None
    said = [f"message {message!r}"] if message is not None else []
    if errors:
        shown = errors[:_SHOWN_ERRORS] if isinstance(errors, list) else [errors]
        more = len(errors) - len(shown) if isinstance(errors, list) else 0
        said.append(f"errors {', '.join(map(repr, shown))}" + (f" and {more} more" if more else ""))
    reason = "200 with errors" if message in (None, SUCCESS) else f"200 with message {message!r}"
    return reason, " and ".join(said)


class BrazeRateGate:
    """What Braze's `X-RateLimit-*` headers last said, shared by every thread: once fewer
    requests are left than could be in flight, requests wait for `X-RateLimit-Reset`."""

    def __init__(self) -> None:
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

    def pause_seconds(self, reserve: int) -> float:
        """How long the next request waits: until the reset once `reserve` or fewer are left."""
        with self._lock:
            now = time.time()
            if self._paused_until <= now and (
                self.remaining is not None and self._reset is not None and self.remaining <= reserve
            ):
                self._paused_until = min(self._reset, now + MAX_RATE_LIMIT_WAIT_SECONDS)
                self.remaining = None  # unknown again until the next answer
            return max(0.0, self._paused_until - now)


class BrazeStream(TapStream):
    """Shared behaviour of every Braze stream."""

    schema = StreamSchema(SCHEMAS)
    source_name = "Braze"
    runtime: BrazeRuntime

    @override
    def calls_at_once(self) -> int:
        """`braze_concurrency`: the read-ahead's threads share the stream's session."""
        return int(self.config.get("braze_concurrency", DEFAULT_CONCURRENCY))

    @property
    @override
    def url_base(self) -> str:
        """The customer's REST endpoint, from `braze_rest_endpoint`."""
        return braze_base_url(self.config["braze_rest_endpoint"])

    @cached_property
    @override
    def authenticator(self) -> BearerTokenAuthenticator:
        """`Authorization: Bearer <braze_api_key>`."""
        return BearerTokenAuthenticator(token=self.config["braze_api_key"])

    @property
    def rate_gate(self) -> BrazeRateGate:
        """Braze's quota as last reported, shared by every Braze stream of the tap."""
        return self.runtime.rate_gate

    @override
    def wait_for_budget(self) -> None:
        """Once the quota left could be spent by the requests in flight, wait for its reset."""
        pause = self.rate_gate.pause_seconds(self.calls_at_once())
        if pause:
            self.logger.info(
                "Braze rate limit nearly spent: waiting %.1f s for X-RateLimit-Reset", pause
            )
            time.sleep(pause)

    @property
    def key_rejections(self) -> RejectionGuard:
        """401s in a row, shared by every Braze stream of the tap."""
        return self.runtime.key_rejections

    @override
    def rate_limit_wait(self, response: requests.Response) -> float | None:
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

    @override
    def describe(self) -> str:
        """Where a problem happened: endpoint, and the segment being synced when there is one."""
        segment = self.reading.get("segment_id")
        return f"{self.path}" + (f" for segment {segment}" if segment else "")

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort answers into retriable (429, 5xx, a key refused once, a body that is not JSON),
        fatal ones (401, 403) with a one-line message, and Braze's refusals (`BrazeRefused`)."""
        self.rate_gate.observe(response.headers)
        status = response.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(f"Braze answered {status}", response)
        if status == HTTPStatus.UNAUTHORIZED:
            if self.key_rejections.rejected():
                raise RetriableAPIError("Braze refused the key (401)", response)
            raise SourceError(
                f"Braze rejected braze_api_key (401 on {self.path}): check the key and that "
                "braze_rest_endpoint is the key's instance"
            )
        if status == HTTPStatus.FORBIDDEN:
            permission = PERMISSIONS.get(self.path or "", "this endpoint")
            raise SourceError(
                f"braze_api_key lacks the '{permission}' permission (403 on {self.path}): "
                "add it to the REST API key in Braze"
            )
        if status >= HTTPStatus.BAD_REQUEST:
            detail = self.error_detail(response)
            raise BrazeRefused(
                f"Braze answered {status} on {self.describe()}: {detail}", f"{status}: {detail}"
            )
        self.key_rejections.accepted()
        self.require_json(response)
        refused = answer_error(response_json(response))
        if refused is not None:
            reason, said = (self.redacted(" ".join(text.split())) for text in refused)
            raise BrazeRefused(f"Braze answered {status} with {said} on {self.describe()}", reason)

    def error_detail(self, response: requests.Response) -> str:
        """The `message` of a Braze error body, redacted and kept to one line."""
        try:
            detail = str(response_json(response).get("message", ""))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        return self.redacted(" ".join(detail.split()))

    def redacted(self, text: str) -> str:
        """`text` without the API key (or anything else that looks like a secret)."""
        return redact(text, [self.config.get("braze_api_key", "")])

    def json_body(self, response: requests.Response) -> dict[str, Any]:
        """The response as a JSON object, or a clear error naming endpoint and segment."""
        body = response_json(response)
        if not isinstance(body, dict):
            kind = f"a JSON {type(body).__name__}, not an object"
            raise BrazeRefused(f"Braze sent an unexpected body on {self.describe()}: {kind}", kind)
        return body

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Subclasses read their records from `json_body`."""
        raise NotImplementedError
