"""The checks each page of `/segments/list` passes: Braze's paging is trusted only so far.

A list that ignores `page` would be read for ever (the same 100 segments again and again), so
a page that lists nothing new ends the run with one line, as does a list longer than any
workspace. A segment listed twice (a deletion mid-run shifts later pages back by one) is
synced once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_segment_analytics.errors import SourceError, redact

# Braze lists 100 segments a page (api-notes); 10,000 pages is a million segments, far beyond
# any workspace, yet a bound on a list that never ends.
MAX_LIST_PAGES = 10_000
_SHOWN_CHARACTERS = 80  # of an item that is not a segment, in the error line


@dataclass
class ListedPage:
    """A page's segments not listed before, and the ids it listed again."""

    segments: list[dict[str, Any]]
    repeated: list[str]


@dataclass
class SegmentListPages:
    """What this run's pages of `/segments/list` listed so far."""

    where: str
    pages: int = 0
    _first_page_of: dict[str, int] = field(default_factory=dict)

    def page_of(self, segment_id: str) -> int | None:
        """The page that first listed the segment."""
        return self._first_page_of.get(segment_id)

    def check(self, items: list[Any]) -> ListedPage:
        """The next page's items, checked: a clear error for an item that is not a segment, for
        a page with no new segment, and past MAX_LIST_PAGES pages."""
        page = self.pages
        self.pages += 1
        if page >= MAX_LIST_PAGES:
            raise SourceError(
                f"Braze listed more than {MAX_LIST_PAGES:,} pages on {self.where} (100 segments "
                "a page): stopped, the list does not seem to end"
            )
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                shown = redact(repr(item))[:_SHOWN_CHARACTERS]
                raise SourceError(
                    f"Braze sent an item without a segment 'id' on {self.where} page {page}: "
                    f"{shown}"
                )
        fresh: list[dict[str, Any]] = []
        repeated: list[str] = []
        for item in items:
            if item["id"] in self._first_page_of:
                repeated.append(item["id"])
            else:
                self._first_page_of[item["id"]] = page
                fresh.append(item)
        if items and not fresh:
            raise SourceError(
                f"Braze answered page {page} of {self.where} with only segments it had already "
                "listed: it seems to ignore 'page'; stopped"
            )
        return ListedPage(fresh, repeated)
