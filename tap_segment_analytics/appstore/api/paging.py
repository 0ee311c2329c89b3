"""JSON:API paging of App Store Connect listings: `links.next`, on the API's own host only."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from singer_sdk.pagination import BaseHATEOASPaginator
from typing_extensions import override

from tap_segment_analytics.appstore.api.url_policy import origin
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.http_calls.retries import response_json

PAGE_LIMIT = 200  # JSON:API `limit` maximum
# Pages one listing may have: 200,000 items, far more than any app has reports or instances,
# yet a bound on a listing whose `links.next` never ends.
MAX_PAGES = 1_000


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
