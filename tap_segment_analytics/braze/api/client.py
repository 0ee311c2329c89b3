"""The Braze client: Bearer auth, the rate gate, and each answer read by what it says, here and
only here. Its calls return plain values.

A 429 or 5xx is retried; 401 and 403 (the key, its permissions) stop the source with one line;
a 404 on a segment's call is the segment deleted since it was listed (`SegmentGone`); any other
4xx, and a 200 whose `message` is not "success" or that carries `errors`, is Braze refusing that
request (`BrazeRefused`, answers.py).

Each request counts in the run summary under the stream that emits its answers, as the streams
count them in the summary's table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_segment_analytics.braze.api.answers import BrazeRefused, SegmentGone, answer_error
from tap_segment_analytics.braze.api.endpoint import braze_base_url
from tap_segment_analytics.braze.api.rate_gate import BrazeRateGate
from tap_segment_analytics.errors import SourceError, redact
from tap_segment_analytics.http_calls.client import ApiClient
from tap_segment_analytics.http_calls.retries import (
    DEFAULT_TIMEOUT_SECONDS,
    RejectionGuard,
    RetryPolicy,
    response_json,
)
from tap_segment_analytics.run_summary import RunSummary

LIST_PATH = "/segments/list"
DETAILS_PATH = "/segments/details"
DATA_SERIES_PATH = "/segments/data_series"
# Each endpoint needs its own permission on the REST API key.
PERMISSIONS = {
    LIST_PATH: "segments.list",
    DETAILS_PATH: "segments.details",
    DATA_SERIES_PATH: "segments.data_series",
}
# The stream whose records each endpoint's answers become: its requests count under its name.
COUNTED_UNDER = {
    LIST_PATH: "braze_segments",
    DETAILS_PATH: "braze_segment_details",
    DATA_SERIES_PATH: "braze_segment_sizes",
}
# Requests in flight at once: 16 made 200 segments x 400 days 10x faster than one at a time
# with 50 ms a request (benchmarks/concurrency.py); 32 was no faster on 2 cores.
DEFAULT_CONCURRENCY = 16
_FOR_SEGMENT = " for segment "


class BrazeClient(ApiClient):
    """Calls to one Braze instance with one REST API key."""

    source_name = "Braze"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        policy: RetryPolicy,
        timeout: float,
        summary: RunSummary,
        logger: logging.Logger,
        at_once: int = 1,
    ) -> None:
        """`at_once`: the calls that may be in flight (connections kept; the rate gate's
        reserve)."""
        self.rate_gate = BrazeRateGate(reserve=at_once, logger=logger)
        self.key_rejections = RejectionGuard()
        self._api_key = api_key
        self.at_once = at_once
        super().__init__(
            base_url=base_url,
            auth=BearerTokenAuthenticator(token=api_key),
            policy=policy,
            timeout=timeout,
            summary=summary,
            logger=logger,
            at_once=at_once,
            pacing=self.rate_gate,
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, summary: RunSummary, logger: logging.Logger
    ) -> BrazeClient:
        """The client the tap's settings describe: `braze_rest_endpoint`, `braze_api_key`,
        `braze_concurrency` and the request settings."""
        return cls(
            base_url=braze_base_url(config["braze_rest_endpoint"]),
            api_key=config["braze_api_key"],
            policy=RetryPolicy.from_config(config),
            timeout=int(config.get("request_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            summary=summary,
            logger=logger,
            at_once=int(config.get("braze_concurrency", DEFAULT_CONCURRENCY)),
        )

    def list_page(self, page: int) -> list[Any]:
        """The items of a page of `/segments/list` (page 0 first), unchecked. Oldest first, so a
        segment created mid-run cannot shift earlier pages."""
        body = self._body(LIST_PATH, None, {"page": page, "sort_direction": "asc"})
        items = body.get("segments")
        if not isinstance(items, list):
            raise SourceError(f"Braze sent no 'segments' list on {LIST_PATH}")
        return items

    def details(self, segment_id: str) -> dict[str, Any]:
        """A segment's `/segments/details`, without the answer's status (`message`, `errors`)."""
        body = self._body(DETAILS_PATH, segment_id, {"segment_id": segment_id})
        body.pop("message", None)
        body.pop("errors", None)
        return body

    def data_series(self, segment_id: str, *, length: int, ending_at: str) -> list[Any] | None:
        """The points of a segment's `/segments/data_series` of `length` days before `ending_at`,
        as Braze sent them; None for a success without `data` (which Braze does not mark
        required)."""
        where = _where(DATA_SERIES_PATH, segment_id)
        body = self._body(
            DATA_SERIES_PATH,
            segment_id,
            {"segment_id": segment_id, "length": length, "ending_at": ending_at},
        )
        series = body.get("data")
        if series is not None and not isinstance(series, list):
            kind = f"'data' as a JSON {type(series).__name__}, not a list"
            raise BrazeRefused(f"Braze sent {kind} on {where}", kind)
        return series

    def _body(self, path: str, segment_id: str | None, params: dict[str, Any]) -> dict[str, Any]:
        """The checked answer to one GET, as a JSON object, or a clear error naming endpoint
        and segment."""
        where = _where(path, segment_id)
        response = self.call(COUNTED_UNDER[path], where, f"{self.base_url}{path}", params=params)
        body = response_json(response)
        if not isinstance(body, dict):
            kind = f"a JSON {type(body).__name__}, not an object"
            raise BrazeRefused(f"Braze sent an unexpected body on {where}: {kind}", kind)
        return body

    @override
    def check(self, response: requests.Response, where: str) -> None:
        """Sort answers into retriable (429, 5xx, a key refused once, a body that is not JSON),
        fatal ones (401, 403) with a one-line message, a segment deleted since it was listed
        (`SegmentGone`) and Braze's refusals (`BrazeRefused`)."""
        self.rate_gate.observe(response.headers)
        path, segment_call, _ = where.partition(_FOR_SEGMENT)
        status = response.status_code
        if status == HTTPStatus.NOT_FOUND and segment_call:
            raise SegmentGone(f"404 on {where}: {self._error_detail(response)}")
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(f"Braze answered {status}", response)
        if status == HTTPStatus.UNAUTHORIZED:
            if self.key_rejections.rejected():
                raise RetriableAPIError("Braze refused the key (401)", response)
            raise SourceError(
                f"Braze rejected braze_api_key (401 on {path}): check the key and that "
                "braze_rest_endpoint is the key's instance"
            )
        if status == HTTPStatus.FORBIDDEN:
            permission = PERMISSIONS.get(path, "this endpoint")
            raise SourceError(
                f"braze_api_key lacks the '{permission}' permission (403 on {path}): "
                "add it to the REST API key in Braze"
            )
        if status >= HTTPStatus.BAD_REQUEST:
            detail = self._error_detail(response)
            raise BrazeRefused(
                f"Braze answered {status} on {where}: {detail}", f"{status}: {detail}"
            )
        self.key_rejections.accepted()
        self.require_json(response)
        refused = answer_error(response_json(response))
        if refused is not None:
            reason, said = (self._redacted(" ".join(text.split())) for text in refused)
            raise BrazeRefused(f"Braze answered {status} with {said} on {where}", reason)

    def _error_detail(self, response: requests.Response) -> str:
        """The `message` of a Braze error body, redacted and kept to one line."""
        try:
            detail = str(response_json(response).get("message", ""))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        return self._redacted(" ".join(detail.split()))

    def _redacted(self, text: str) -> str:
        """`text` without the API key (or anything else that looks like a secret)."""
        return redact(text, [self._api_key])


def _where(path: str, segment_id: str | None) -> str:
    """What a call reads, as its errors and retry lines name it."""
    return path + (f"{_FOR_SEGMENT}{segment_id}" if segment_id else "")
