"""What a Braze run reads, and in which order: plain Python, no SDK.

The segments arrive page by page from `/segments/list`; each wanted one brings a details call
and the `/segments/data_series` windows that cover its days from its bookmark (`windows.py`).
The plan hands these fetch units out in list order, to the read-ahead (`fetch.py`) and to the
streams that emit their results, so both ask for the same calls.

Memory stays flat as the account grows: the plan keeps the segments of the page being synced
(the SDK syncs a page's segments before it asks for the next page: tests/test_sdk_contracts.py
pins it), as much of each as the run needs (id, name, calls), plus the ids of the whole list
that `SegmentListPages` checks.

Every segment's series is asked for, whatever its `analytics_tracking_enabled` says: Braze's docs
tie tracking to dashboard analysis tools, not to the size series, so the tap keeps what Braze
returns and counts the segments Braze refuses (`refusals.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from tap_segment_analytics.braze.segment_list import ListedPage, SegmentListPages
from tap_segment_analytics.braze.windows import Window, first_day_to_fetch, plan_windows

DEFAULT_LOOKBACK_DAYS = 3


@dataclass(frozen=True, slots=True)
class DetailsCall:
    """`/segments/details` for one segment."""

    segment_id: str


@dataclass(frozen=True, slots=True)
class SizesCall:
    """`/segments/data_series` for one window of one segment."""

    segment_id: str
    window: Window


FetchUnit = DetailsCall | SizesCall


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    """A listed segment, as much of it as the run needs, and the calls the run makes for it."""

    id: str
    name: str | None
    details: DetailsCall | None  # None when the run does not read details
    sizes: tuple[SizesCall, ...]  # its windows from its bookmark

    def fetch_units(self) -> Iterator[FetchUnit]:
        """The segment's calls, in the order the sync takes them: details, then sizes."""
        if self.details is not None:
            yield self.details
        yield from self.sizes


@dataclass(frozen=True)
class SegmentSettings:
    """The settings that decide what a run reads of each segment."""

    start_date: date
    run_day: date  # the UTC day the run started: the series ends before it
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    wanted_ids: frozenset[str] | None = None  # `braze_segment_ids`, None for every segment

    @classmethod
    def from_config(cls, config: Mapping[str, Any], run_day: date) -> SegmentSettings:
        """The settings of `config` (the tap's)."""
        ids = config.get("braze_segment_ids")
        return cls(
            start_date=date.fromisoformat(str(config["start_date"])[:10]),
            run_day=run_day,
            lookback_days=int(config.get("braze_lookback_days", DEFAULT_LOOKBACK_DAYS)),
            wanted_ids=frozenset(ids) if ids else None,
        )


class SegmentPlan:
    """One run's reading of Braze: the segments as they are listed, and their fetch units.

    `bookmark(segment_id)` is the segment's sizes bookmark as the run started with it (the
    stream that owns it answers); `details` and `sizes` say which calls the run makes.
    """

    def __init__(
        self,
        settings: SegmentSettings,
        *,
        bookmark: Callable[[str], Any] = lambda segment_id: None,
        details: bool = True,
        sizes: bool = True,
        where: str = "/segments/list",
    ) -> None:
        self.settings = settings
        self._bookmark = bookmark
        self._details = details
        self._sizes = sizes
        self.pages = SegmentListPages(where)
        self._page: dict[str, PlannedSegment] = {}
        self._seen_wanted: set[str] = set()
        self._deleted: set[str] = set()

    def wanted(self, segment_id: str) -> bool:
        """Whether the run reads the segment (`braze_segment_ids`, or every segment)."""
        wanted_ids = self.settings.wanted_ids
        return wanted_ids is None or segment_id in wanted_ids

    def list_page(self, items: list[Any]) -> ListedPage:
        """The next page of `/segments/list`, checked; its wanted segments become the page
        being synced (the previous page's are done)."""
        page = self.pages.check(items)
        self._page = {}
        for item in page.segments:
            if self.wanted(item["id"]):
                self._page[item["id"]] = self._planned(item)
        self._seen_wanted.update(self._page if self.settings.wanted_ids is not None else ())
        return page

    def segment(self, segment_id: str) -> PlannedSegment:
        """A wanted segment of the page being synced (the SDK syncs a segment's children while
        its page is)."""
        return self._page[segment_id]

    def _planned(self, listed: Mapping[str, Any]) -> PlannedSegment:
        """The plan's view of an item of `/segments/list`: its name and its calls."""
        segment_id = listed["id"]
        name = listed.get("name")
        return PlannedSegment(
            id=segment_id,
            name=None if name is None else str(name),
            details=DetailsCall(segment_id) if self._details else None,
            sizes=tuple(
                SizesCall(segment_id, window)
                for window in (self.windows(segment_id) if self._sizes else ())
            ),
        )

    def windows(self, segment_id: str) -> list[Window]:
        """The size windows of a segment, from its bookmark or `start_date` to the run day."""
        value = self._bookmark(segment_id)
        bookmark = date.fromisoformat(str(value)[:10]) if value else None
        first_day = first_day_to_fetch(
            self.settings.start_date, bookmark, self.settings.lookback_days
        )
        return plan_windows(first_day, self.settings.run_day)

    def fetch_units(self) -> Iterator[FetchUnit]:
        """The calls of the page being synced, in the order the sync takes them."""
        for segment in self._page.values():
            yield from segment.fetch_units()

    def first_deletion(self, segment_id: str) -> bool:
        """Whether this is the first time the run finds the segment deleted since it was
        listed (one WARNING a segment)."""
        if segment_id in self._deleted:
            return False
        self._deleted.add(segment_id)
        return True

    def missing_ids(self) -> list[str]:
        """The configured `braze_segment_ids` Braze did not list, sorted."""
        return sorted((self.settings.wanted_ids or frozenset()) - self._seen_wanted)
