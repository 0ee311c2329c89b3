"""The base stream for App Store Connect: JWT auth, JSON:API paging, errors, pacing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from singer_sdk import StreamSchema
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_segment_analytics.appstore.api.url_policy import RefusedURL, check_download_url, origin
from tap_segment_analytics.errors import SourceError, redact
from tap_segment_analytics.http_calls.retries import OutOfBudget, response_json
from tap_segment_analytics.rest_stream import TapStream
from tap_segment_analytics.schemas import SCHEMAS

if TYPE_CHECKING:
    from tap_segment_analytics.appstore.api.auth import AppStoreJWTAuthenticator
    from tap_segment_analytics.appstore.api.rate_limit import CallLimit, RateBudget
    from tap_segment_analytics.appstore.runtime import AppStoreRuntime

PAGE_LIMIT = 200  # JSON:API `limit` maximum
# Pages one listing may have: 200,000 items, far more than any app has reports or instances,
# yet a bound on a listing whose `links.next` never ends.
MAX_PAGES = 1_000
# How an error names what the tap was reading, from the stream's context.
_CONTEXT_LABELS = (
    ("app_id", "app {}"),
    ("report_name", "report '{}'"),
    ("granularity", "{}"),
    ("processing_date", "processed {}"),
    ("instance_id", "instance {}"),
    ("segment_id", "segment {}"),
)
# Apple's `errors[].code`s the client acts on (api-notes; Apple's "Interpreting and Handling
# Errors"): the code is meant for programs, the status only where no code is given.
NOT_FOUND = "NOT_FOUND"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
_HINTS: dict[int, str] = {
    HTTPStatus.UNAUTHORIZED: "check appstore_key_id, appstore_issuer_id and the private key",
    HTTPStatus.FORBIDDEN: "the API key's role lacks access to analytics reports",
}


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """A JSON:API resource as one flat record: `id` plus its attributes in snake case."""
    attributes = item.get("attributes") or {}
    return {"id": item["id"], **{_snake(k): v for k, v in attributes.items()}}


def _snake(name: str) -> str:
    """`sizeInBytes` → `size_in_bytes`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class LinksNextPaginator(BaseHATEOASPaginator):
    """Follows the absolute `links.next` URL of JSON:API responses: only on the API's own
    host (the token goes with every request), never to a page already read, and for at most
    MAX_PAGES pages."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self._origin = origin(api_url)
        self._read: set[str] = set()  # the URLs of the pages read, as sent and as answered
        self._pages = 0

    @override
    def get_next_url(self, response: requests.Response) -> str | None:
        self._pages += 1
        self._read.add(response.url)
        where = urlsplit(response.url).path  # the page's own path: ids filled in, no query
        body = response_json(response)
        links = body.get("links") if isinstance(body, dict) else None
        url = links.get("next") if isinstance(links, dict) else None
        if url is None:
            return None
        if not isinstance(url, str) or origin(url) != self._origin:
            shown = origin(url) if isinstance(url, str) else repr(url)[:80]
            raise SourceError(
                f"App Store Connect's links.next on {where} leads to {shown}, not to "
                "appstore_api_url's host: not followed (the token goes to that host only)"
            )
        if url in self._read:
            raise SourceError(
                f"App Store Connect's links.next on {where} leads back to a page "
                "already read: the listing loops; stopped"
            )
        if self._pages >= MAX_PAGES:
            raise SourceError(
                f"App Store Connect listed more than {MAX_PAGES:,} pages on {where}: "
                "stopped, the listing does not seem to end"
            )
        self._read.add(url)
        return url


def apple_errors(response: requests.Response) -> list[tuple[str, str]]:
    """(code, detail) of each error of a JSON:API error body (none when it is not one)."""
    try:
        errors = response_json(response).get("errors") or []
        return [
            (
                str(e.get("code") or e.get("status") or "?"),
                " ".join(str(e.get("detail") or e.get("title") or "").split()),
            )
            for e in errors
            if isinstance(e, dict)
        ]
    except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
        return []


def joined_errors(errors: list[tuple[str, str]]) -> str:
    """`code: detail; ...` of Apple's errors ("" for none)."""
    return "; ".join(f"{code}: {detail}" for code, detail in errors)


def api_errors(response: requests.Response) -> str:
    """`code: detail` of each error in a JSON:API error body (or the start of the body)."""
    text = joined_errors(apple_errors(response))
    return " ".join((text or response.text[:200]).split())


class AppleRefusal(SourceError):
    """App Store Connect refused a request (a 4xx that no retry changes): its status and
    Apple's `errors[].code`s, for the caller that can skip what it was about."""

    def __init__(self, message: str, *, status: int, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors

    @property
    def codes(self) -> set[str]:
        """Apple's codes of the refusal."""
        return {code for code, _ in self.errors}

    def explained(self) -> str:
        """`CODE: detail; ...` as Apple gave them (the status when it gave none)."""
        text = joined_errors(self.errors)
        return redact(text) if text else f"HTTP {self.status}"


class NotServed(SourceError):
    """Something the API listed that it does not serve: whoever can skip it says so (one
    WARNING) and goes on."""


class Vanished(AppleRefusal, NotServed):
    """A 404 `NOT_FOUND` for something the API listed: Apple removed it since (instances go
    after a retention period; api-notes)."""


class AppStoreStream(TapStream):
    """Shared behaviour of every App Store Connect stream."""

    source_name = "App Store Connect"
    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SCHEMAS)
    runtime: AppStoreRuntime

    @property
    @override
    def url_base(self) -> str:
        """`appstore_api_url` (Apple's by default)."""
        return str(self.config["appstore_api_url"]).rstrip("/")

    @property
    @override
    def authenticator(self) -> AppStoreJWTAuthenticator:
        """One authenticator per tap, so every stream reuses the same token."""
        return self.runtime.authenticator

    @property
    def rate_budget(self) -> RateBudget:
        """The hourly budget shared by every stream of the tap."""
        return self.runtime.rate_budget

    @override
    def get_new_paginator(self) -> LinksNextPaginator:
        """JSON:API paging through `links.next`."""
        return LinksNextPaginator(self.url_base)

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """The largest page Apple allows."""
        return {"limit": PAGE_LIMIT}

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """The first page from `path`; later pages from `links.next`, which carries the query."""
        request = super().get_http_request(page=page)
        if page.next_page_token:
            request.url = page.next_page_token.geturl()
            request.params = {}
        return request

    @override
    def describe(self) -> str:
        """The path being read, with the app, report, instance or segment it was on."""
        context = self.reading
        parts = [
            label.format(context[key])
            for key, label in _CONTEXT_LABELS
            if context.get(key) not in (None, "")
        ]
        return self.endpoint() + (f" ({', '.join(parts)})" if parts else "")

    @override
    def wait_for_budget(self) -> None:
        """Wait as the hourly budget says (rate_limit.py), or stop the run."""
        self.rate_budget.before_request()

    @override
    def call_slot(self) -> CallLimit:
        """A place among the few API calls Apple accepts at once."""
        return self.call_limit

    @property
    def call_limit(self) -> CallLimit:
        """The API calls in flight, shared by every stream and thread of the tap."""
        return self.runtime.call_limit

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Every answer, read by what it says, in this one place: its `X-Rate-Limit` noted;
        Apple's `errors[].code` decides where it gives one, the status otherwise.

        Retried: 429 `RATE_LIMIT_EXCEEDED` (with the hourly budget spent, not a try: the
        budget waits or stops the run), 5xx, a token refused once, a body that is not JSON.
        A 404 or `NOT_FOUND` is `Vanished` (a caller skips what was listed and is gone); any
        other 4xx is an `AppleRefusal` with Apple's codes (one error line, unless the caller
        can skip what it was about).
        """
        spent = self.rate_budget.observe(response.headers.get("X-Rate-Limit"))
        status = response.status_code
        errors = apple_errors(response) if status >= HTTPStatus.BAD_REQUEST else []
        codes = {code for code, _ in errors}
        if status == HTTPStatus.TOO_MANY_REQUESTS or RATE_LIMIT_EXCEEDED in codes:
            if spent:
                raise OutOfBudget("App Store Connect's hourly budget is spent (429)", response)
            self.call_limit.refused()
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
            raise refusal(self.error_message(response), status=status, errors=errors)
        self.authenticator.accepted()
        self.require_json(response)

    def error_message(self, response: requests.Response) -> str:
        """`App Store Connect answered 404 on <path> (<ids>): NOT_FOUND: <detail>` plus a hint."""
        status = response.status_code
        hint = _HINTS.get(status)
        message = (
            f"App Store Connect answered {status} on {self.describe()}: {api_errors(response)}"
            + (f" ({hint})" if hint else "")
        )
        return redact(message)

    def download_url(self, url: object) -> str:
        """A report file's URL from an answer of this stream, once url_policy.py allows it."""
        try:
            check_download_url(url, self.url_base)
        except RefusedURL as exc:
            raise SourceError(
                f"App Store Connect handed out a download URL the tap refuses on "
                f"{self.describe()}: {exc}"
            ) from None
        return str(url)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The JSON:API `data` items as flat records, or a clear error for a body that is not
        JSON:API."""
        body = response_json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if data is None:
            raise SourceError(f"App Store Connect sent no 'data' on {self.describe()}")
        for item in data if isinstance(data, list) else [data]:
            yield _flatten(item)
