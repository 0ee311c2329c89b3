"""App Store Connect over HTTP: every call the tap makes to the API, answering plain values.

Report requests (listed, created), a request's reports, a report's instances, an instance's
segments, a segment's fresh file URL: each a JSON:API listing read page by page (paging.py),
each resource a flat record (`id` plus its attributes in snake case). Every answer is read in
one place (answers.py); calls are paced by the hourly budget and the calls Apple accepts at once
(rate_limit.py), signed with the team's key (auth.py), and counted in the run summary under the
stream whose records they are.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

import requests
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_segment_analytics.appstore.api.answers import (
    NOT_FOUND,
    RATE_LIMIT_EXCEEDED,
    AppleRefusal,
    Vanished,
    apple_errors,
    error_message,
)
from tap_segment_analytics.appstore.api.auth import AppStoreJWTAuthenticator
from tap_segment_analytics.appstore.api.paging import PAGE_LIMIT, LinksNextPaginator
from tap_segment_analytics.appstore.api.rate_limit import CallLimit, RateBudget
from tap_segment_analytics.appstore.api.url_policy import RefusedURL, check_download_url
from tap_segment_analytics.appstore.api.values import (
    ONGOING,
    Creation,
    NotServed,
    SegmentFile,
)
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.http_calls.client import ApiClient
from tap_segment_analytics.http_calls.retries import OutOfBudget, RetryPolicy, response_json
from tap_segment_analytics.run_summary import RunSummary

Record = dict[str, Any]
# The streams whose records each call reads: its requests are counted under that name.
REQUESTS = "appstore_report_requests"
REPORTS = "appstore_reports"
INSTANCES = "appstore_report_instances"
SEGMENTS = "appstore_report_segments"
# The 409 codes that mean "such a report request exists already". STATE_ERROR ("You already
# have such an entity") is what an App Store Connect engineer shows for a second
# ONE_TIME_SNAPSHOT (Apple forum thread 759773); for a second ONGOING request no Apple page
# names the code, and DUPLICATE is the one Apple's API gives for an attribute value already
# used (unconfirmed). Either way the plan then confirms the request is listed.
EXISTS_CODES = frozenset({"STATE_ERROR", "ENTITY_ERROR.ATTRIBUTE.INVALID.DUPLICATE"})
# How a line names what the tap was reading, from the context of the call.
_CONTEXT_LABELS = (
    ("app_id", "app {}"),
    ("report_name", "report '{}'"),
    ("granularity", "{}"),
    ("processing_date", "processed {}"),
    ("instance_id", "instance {}"),
    ("segment_id", "segment {}"),
)


def describe(path: str, context: Mapping[str, Any]) -> str:
    """`<path> (app …, report '…', …)`: the path called and what it was read for."""
    parts = [
        label.format(context[key])
        for key, label in _CONTEXT_LABELS
        if context.get(key) not in (None, "")
    ]
    return path + (f" ({', '.join(parts)})" if parts else "")


def segment_file(record: Mapping[str, Any], fetched_at: float) -> SegmentFile:
    """What a segment resource says about its file."""
    size = record.get("size_in_bytes")
    return SegmentFile(
        url=record["url"],
        checksum=str(record.get("checksum") or ""),
        size_in_bytes=int(size) if size is not None else None,
        fetched_at=fetched_at,
    )


def _snake(name: str) -> str:
    """`sizeInBytes` → `size_in_bytes`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _flatten(item: Any) -> Record:
    """A JSON:API resource as one flat record: `id` plus its attributes in snake case."""
    attributes = item.get("attributes") or {}
    return {"id": item["id"], **{_snake(k): v for k, v in attributes.items()}}


class ApplePacing:
    """The hourly budget (waited for before each call) and the calls Apple accepts at once."""

    def __init__(self, budget: RateBudget, calls: CallLimit) -> None:
        self.budget = budget
        self.calls = calls

    def before_call(self) -> None:
        """Wait as the hourly budget says (rate_limit.py), or stop the run."""
        self.budget.before_request()

    def slot(self) -> CallLimit:
        """A place among the few API calls Apple accepts at once."""
        return self.calls

    def retry_wait(self, response: requests.Response) -> float | None:
        """Apple gives no wait: back off exponentially."""
        return None


class AppStoreClient(ApiClient):
    """The App Store Connect API of one run."""

    source_name = "App Store Connect"

    def __init__(
        self,
        *,
        base_url: str,
        authenticator: AppStoreJWTAuthenticator,
        budget: RateBudget,
        calls: CallLimit,
        policy: RetryPolicy,
        timeout: float,
        summary: RunSummary,
        logger: logging.Logger,
        backfill: bool,
    ) -> None:
        """`backfill`: whether snapshot requests are listed too."""
        super().__init__(
            base_url=base_url,
            auth=authenticator,
            policy=policy,
            timeout=timeout,
            summary=summary,
            logger=logger,
            at_once=calls.limit,
            pacing=ApplePacing(budget, calls),
        )
        self.authenticator = authenticator
        self.budget = budget
        self.calls = calls
        self.backfill = backfill

    # The calls

    def list_requests(self, app_id: str) -> list[Record]:
        """The app's report requests (without a backfill, the ONGOING ones only: snapshot
        requests are none of the run's business)."""
        params = {} if self.backfill else {"filter[accessType]": ONGOING}
        path = f"/v1/apps/{app_id}/analyticsReportRequests"
        return list(self._listing(REQUESTS, path, {}, params))

    def create_request(self, app_id: str, access_type: str) -> Creation:
        """POST a request: what Apple answered. A 409 whose code means "such a request exists"
        is no error; any other refusal about the app (409, 422, 404) is told to the plan, which
        warns and goes on with the other apps; 401 and 403 (the key or its role) stop the run."""
        body = {
            "data": {
                "type": "analyticsReportRequests",
                "attributes": {"accessType": access_type},
                "relationships": {"app": {"data": {"type": "apps", "id": app_id}}},
            }
        }
        path = "/v1/analyticsReportRequests"
        try:
            self.call(REQUESTS, path, self.base_url + path, method="POST", json=body)
        except AppleRefusal as refusal:
            if refusal.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise
            answer = f"{refusal.status} {refusal.explained()}"
            if refusal.status == HTTPStatus.CONFLICT and refusal.codes & EXISTS_CODES:
                return Creation(answer, exists=True)
            return Creation(answer)
        return Creation("201", created=True)

    def list_reports(self, app_id: str, request_id: str) -> list[Record]:
        """A request's reports."""
        path = f"/v1/analyticsReportRequests/{request_id}/reports"
        return list(self._listing(REPORTS, path, {"app_id": app_id}, {}))

    def list_instances(self, partition: Mapping[str, Any], report_id: str) -> list[Record]:
        """A report's instances of the partition's granularity."""
        path = f"/v1/analyticsReports/{report_id}/instances"
        params = {"filter[granularity]": partition["granularity"]}
        return list(self._listing(INSTANCES, path, partition, params))

    def list_segments(self, instance: Mapping[str, Any]) -> list[Record]:
        """An instance's segments, each with its file as listed (`_file`) when it has a URL."""
        path = f"/v1/analyticsReportInstances/{instance['instance_id']}/segments"
        segments = []
        for record, listed_at in self._timed_listing(SEGMENTS, path, instance, {}):
            if record.get("url"):
                record["url"] = self._download_url(record["url"], describe(path, instance))
                record["_file"] = segment_file(record, listed_at)
            segments.append(record)
        return segments

    def fresh_file(self, file: Mapping[str, Any], stream: str) -> SegmentFile:
        """A fresh presigned URL of a segment's file (`GET /v1/analyticsReportSegments/{id}`),
        counted under `stream`, the rows stream of its report."""
        path = f"/v1/analyticsReportSegments/{file['segment_id']}"
        where = describe(path, file)
        params = {"fields[analyticsReportSegments]": "checksum,sizeInBytes,url"}
        response = self.call(stream, where, self.base_url + path, params=params)
        fetched_at = time.monotonic()
        for record in self._data(response, where):
            if record.get("url"):
                record["url"] = self._download_url(record["url"], where)
                return segment_file(record, fetched_at)
            break
        # `url` is not a required attribute in Apple's schema: a segment without one is not
        # served, and skipped like one that answers 404.
        raise NotServed(f"App Store Connect sent no download url on {where}")

    # Reading answers

    @override
    def check(self, response: requests.Response, where: str) -> None:
        """Every answer, read by what it says, in this one place: its `X-Rate-Limit` noted;
        Apple's `errors[].code` decides where it gives one, the status otherwise.

        Retried: 429 `RATE_LIMIT_EXCEEDED` (with the hourly budget spent, not a try: the
        budget waits or stops the run), 5xx, a token refused once, a body that is not JSON.
        A 404 or `NOT_FOUND` is `Vanished` (a caller skips what was listed and is gone); any
        other 4xx is an `AppleRefusal` with Apple's codes (one error line, unless the caller
        can skip what it was about).
        """
        spent = self.budget.observe(response.headers.get("X-Rate-Limit"))
        status = response.status_code
        errors = apple_errors(response) if status >= HTTPStatus.BAD_REQUEST else []
        codes = {code for code, _ in errors}
        if status == HTTPStatus.TOO_MANY_REQUESTS or RATE_LIMIT_EXCEEDED in codes:
            if spent:
                raise OutOfBudget("App Store Connect's hourly budget is spent (429)", response)
            self.calls.refused()
            raise RetriableAPIError(f"App Store Connect answered {status}", response)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(f"App Store Connect answered {status}", response)
        if status == HTTPStatus.UNAUTHORIZED and self.authenticator.rejected():
            raise RetriableAPIError(
                "App Store Connect refused the token (401); signing a new one", response
            )
        if status >= HTTPStatus.BAD_REQUEST:
            refusal = (
                Vanished if status == HTTPStatus.NOT_FOUND or NOT_FOUND in codes else AppleRefusal
            )
            raise refusal(error_message(response, where), status=status, errors=errors)
        self.authenticator.accepted()
        self.require_json(response)

    def _listing(
        self, stream: str, path: str, context: Mapping[str, Any], params: Mapping[str, Any]
    ) -> Iterator[Record]:
        for record, _ in self._timed_listing(stream, path, context, params):
            yield record

    def _timed_listing(
        self, stream: str, path: str, context: Mapping[str, Any], params: Mapping[str, Any]
    ) -> Iterator[tuple[Record, float]]:
        """Each resource of every page, with when its page was answered; the first page
        from `path`, the next ones from `links.next` (which carries the query)."""
        where = describe(path, context)
        paginator = LinksNextPaginator(self.base_url)
        url, query = self.base_url + path, {"limit": PAGE_LIMIT, **params}
        while True:
            response = self.call(stream, where, url, params=query)
            answered_at = time.monotonic()
            for record in self._data(response, where):
                yield record, answered_at
            paginator.advance(response)
            if paginator.finished or paginator.current_value is None:
                return
            url, query = paginator.current_value.geturl(), {}

    def _data(self, response: requests.Response, where: str) -> Iterator[Record]:
        """The JSON:API `data` items as flat records, or a clear error for a body that is not
        JSON:API."""
        body = response_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if data is None:
            raise SourceError(f"App Store Connect sent no 'data' on {where}")
        for item in data if isinstance(data, list) else [data]:
            yield _flatten(item)

    def _download_url(self, url: object, where: str) -> str:
        """A report file's URL from an answer, once url_policy.py allows it."""
        try:
            check_download_url(url, self.base_url)
        except RefusedURL as exc:
            raise SourceError(
                f"App Store Connect handed out a download URL the tap refuses on {where}: {exc}"
            ) from None
        return str(url)
