"""The base of each source's API client: one session, the tap's retry loop, the source's pacing
and reading of answers, each request counted in the run summary under the stream it serves.

A source's client (appstore/api/client.py, braze/api/client.py) says how an answer is read
(`check`): what is retried (`RetriableAPIError`), what is a refusal, what stops the run. Retries
follow `request_max_tries` and `request_backoff_seconds`; a 429 waits as long as the source says
(`Pacing.retry_wait`). When the tries are spent, one line names the source, the endpoint and what
the tap was reading.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, Protocol

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_segment_analytics.errors import SourceError, network_reason
from tap_segment_analytics.http_calls.deadline import AnswerTooSlow, answers_within_timeout
from tap_segment_analytics.http_calls.retries import (
    RETRIABLE,
    TRANSIENT_NETWORK_ERRORS,
    OutOfBudget,
    RetryPolicy,
    jittered,
    response_json,
)
from tap_segment_analytics.prefetch import check_open, pause
from tap_segment_analytics.run_summary import RunSummary


class Pacing(Protocol):
    """How a source spaces its calls (none by default)."""

    def before_call(self) -> None:
        """Wait while the source's budget says to, or stop the run."""

    def slot(self) -> contextlib.AbstractContextManager[Any]:
        """Held while a call is in flight."""

    def retry_wait(self, response: requests.Response) -> float | None:
        """Seconds a 429 asks to wait, or None to back off exponentially."""


class Unpaced:
    """No budget, no bound on calls in flight, exponential backoff for every 429."""

    def before_call(self) -> None:
        """No wait."""

    def slot(self) -> contextlib.AbstractContextManager[Any]:
        """No bound."""
        return contextlib.nullcontext()

    def retry_wait(self, response: requests.Response) -> float | None:
        """Exponential backoff."""
        return None


class ApiClient:
    """Calls to one API over one session: paced, retried, checked, counted."""

    source_name = "the API"

    def __init__(
        self,
        *,
        base_url: str,
        auth: Callable[[requests.PreparedRequest], requests.PreparedRequest] | None,
        policy: RetryPolicy,
        timeout: float,
        summary: RunSummary,
        logger: logging.Logger,
        at_once: int = 1,
        pacing: Pacing | None = None,
    ) -> None:
        """`logger`: the tap's (each call logs on its stream's child logger); `at_once`: how
        many threads call at once (connections kept alive)."""
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.policy = policy
        self.timeout = timeout
        self.summary = summary
        self.logger = logger
        self.pacing: Pacing = pacing or Unpaced()
        self.session = answers_within_timeout(requests.Session(), at_once)

    def check(self, response: requests.Response, where: str) -> None:
        """Raise for an answer that is not a success (RetriableAPIError: tried again)."""
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(f"{self.source_name} answered {response.status_code}", response)

    def call(
        self,
        stream: str,
        where: str,
        url: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """The checked answer to one request for `stream` about `where` (a path and what was
        read), tried again as the policy says; a SourceError when the tries are spent."""
        try:
            return self._retried(
                stream, where, requests.Request(method, url, params=params, json=json)
            )
        except RetriableAPIError as exc:
            raise SourceError(
                f"{exc} on {where}, still after {self.policy.max_tries} tries"
            ) from None
        except AnswerTooSlow as exc:
            raise SourceError(
                f"{self.source_name} {exc} on {where}, still after {self.policy.max_tries} tries"
            ) from None
        except TRANSIENT_NETWORK_ERRORS as exc:
            raise SourceError(
                f"could not reach {self.source_name} at {self.base_url} on {where}: "
                f"{network_reason(exc)}, still after {self.policy.max_tries} tries"
            ) from None

    def _retried(self, stream: str, where: str, request: requests.Request) -> requests.Response:
        retry = 0
        while True:
            try:
                return self._paced(stream, where, request)
            except RETRIABLE as exc:
                retry += 1
                if retry >= self.policy.max_tries:
                    raise
                wait = jittered(self._wait(retry, exc))
                self._log_retry(stream, where, exc, retry, wait)
                pause(wait)

    def _paced(self, stream: str, where: str, request: requests.Request) -> requests.Response:
        while True:
            check_open()
            self.pacing.before_call()
            try:
                with self.pacing.slot():
                    return self._send(stream, where, request)
            except OutOfBudget:
                continue  # before_call waits for the budget, or stops the run

    def _send(self, stream: str, where: str, request: requests.Request) -> requests.Response:
        prepared = self.session.prepare_request(request)
        if self.auth is not None:
            prepared = self.auth(prepared)  # each try signed anew: a refused token is renewed
        response = self.session.send(prepared, timeout=self.timeout)
        self.summary.count(stream, requests=1)
        self.check(response, where)
        return response

    def _wait(self, retry: int, exc: BaseException) -> float:
        """The server's hint for a 429, exponential backoff otherwise."""
        response = getattr(exc, "response", None)
        if (
            isinstance(exc, RetriableAPIError)
            and response is not None
            and response.status_code == HTTPStatus.TOO_MANY_REQUESTS
            and (hinted := self.pacing.retry_wait(response)) is not None
        ):
            return hinted
        return self.policy.wait(retry)

    def _log_retry(
        self, stream: str, where: str, exc: BaseException, retry: int, wait: float
    ) -> None:
        """One line per retry, without URLs (they may carry credentials)."""
        self.summary.count(stream, retries=1)
        response = getattr(exc, "response", None)
        if isinstance(exc, RetriableAPIError):
            reason = str(exc)
        elif response is not None:
            reason = f"HTTP {response.status_code}"
        else:
            reason = network_reason(exc)
        self.logger.getChild(stream).warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            stream,
            reason,
            where,
            retry,
            self.policy.max_tries - 1,
            wait,
        )

    def require_json(self, response: requests.Response) -> None:
        """A 2xx body that is not JSON (an HTML page, an empty or cut-off page) is transient."""
        try:
            response_json(response)
        except (ValueError, UnicodeDecodeError):
            kind = "an empty body" if not response.content else "malformed JSON"
            raise RetriableAPIError(
                f"{self.source_name} sent {kind} (HTTP {response.status_code})", response
            ) from None
