"""What a Braze run reads, and in which order: plain Python, no SDK, no stream.

The plan is made from the client's answers alone (`SegmentLister`), before any stream emits:
every page of `/segments/list` (each one checked, segment_list.py), then for each wanted segment
a details call and the `/segments/data_series` windows that cover its days from its bookmark
(windows.py). The read-ahead (fetch/) and the streams that emit the results (emit/) both walk its
fetch units in its order, so both ask for the same calls.

A listing that fails part-way (a page Braze will not answer, a list that ignores `page`) ends the
plan there: the segments of the pages listed before stand, and the failure (`listing_error`)
stops the source once they are emitted, as it would have had the pages been read one by one.

Every segment's series is asked for, whatever its `analytics_tracking_enabled` says: Braze's docs
tie tracking to dashboard analysis tools, not to the size series, so the tap keeps what Braze
returns and counts the segments Braze refuses (emit/skips.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from tap_segment_analytics.braze.plan.segment_list import SegmentListPages
from tap_segment_analytics.braze.plan.windows import Window, first_day_to_fetch, plan_windows
from tap_segment_analytics.errors import SourceError

DEFAULT_LOOKBACK_DAYS = 3


class SegmentLister(Protocol):
    """The client call a plan is made from."""

    def list_page(self, page: int) -> list[Any]:
        """The items of a page of `/segments/list` (page 0 first; an empty page ends it)."""


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
    """A listed segment, and the calls the run makes for it."""

    id: str
    name: str | None
    listed: dict[str, Any]  # the item of `/segments/list`, as Braze sent it
    reads_details: bool
    windows: tuple[Window, ...]  # its size windows, from its bookmark
    sized_until: date | None  # its bookmark: the last day sized by an earlier run

    @property
    def details(self) -> DetailsCall | None:
        """Its details call, when the run reads details."""
        return DetailsCall(self.id) if self.reads_details else None

    @property
    def sizes(self) -> tuple[SizesCall, ...]:
        """Its size calls, one a window."""
        return tuple(SizesCall(self.id, window) for window in self.windows)

    def fetch_units(self) -> Iterator[FetchUnit]:
        """The segment's calls, in the order the sync takes them: details, then sizes."""
        if self.reads_details:
            yield DetailsCall(self.id)
        yield from self.sizes


@dataclass(frozen=True)
class ListedPage:
    """A page of `/segments/list`: its number, its wanted segments not listed before, and the
    ids it listed again with the page that first listed each."""

    number: int
    segments: tuple[PlannedSegment, ...]
    repeated: tuple[tuple[str, int | None], ...] = ()


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

    def wanted(self, segment_id: str) -> bool:
        """Whether the run reads the segment (`braze_segment_ids`, or every segment)."""
        return self.wanted_ids is None or segment_id in self.wanted_ids


@dataclass
class SegmentPlan:
    """One run's reading of Braze: the listed pages, their wanted segments and each one's
    calls, complete before the first record is emitted."""

    settings: SegmentSettings
    pages: list[ListedPage] = field(default_factory=list)
    # Why the listing stopped before its end (emitted after the pages before it), if it did.
    listing_error: SourceError | None = None
    # Whether the listing was read to its end (not cut short by a record limit or an error).
    listed_whole: bool = False
    _segments: dict[str, PlannedSegment] = field(default_factory=dict)

    def segment(self, segment_id: str) -> PlannedSegment:
        """A planned segment."""
        return self._segments[segment_id]

    def segments(self) -> Iterator[PlannedSegment]:
        """The planned segments, in list order."""
        for page in self.pages:
            yield from page.segments

    def fetch_units(self) -> Iterator[FetchUnit]:
        """Every call of the run, in the order the sync takes them."""
        for segment in self.segments():
            yield from segment.fetch_units()

    def missing_ids(self) -> list[str]:
        """The configured `braze_segment_ids` Braze did not list, sorted (none unless the whole
        list was read)."""
        if not self.listed_whole:
            return []
        return sorted((self.settings.wanted_ids or frozenset()) - self._segments.keys())

    def add_page(self, page: ListedPage) -> None:
        """A page listed, its segments planned."""
        self.pages.append(page)
        for segment in page.segments:
            self._segments[segment.id] = segment

    def __len__(self) -> int:
        return len(self._segments)


def plan_segments(
    lister: SegmentLister,
    settings: SegmentSettings,
    *,
    bookmarks: Mapping[str, Any],
    details: bool = True,
    sizes: bool = True,
    at_most: int | None = None,
    where: str = "/segments/list",
) -> SegmentPlan:
    """The run's plan: `/segments/list` read page by page from `lister` until an empty page,
    each wanted segment with its calls.

    `bookmarks`: each segment's sizes bookmark as the run starts (a day, by segment id);
    `details`, `sizes`: whether the run reads them; `at_most`: a record limit (`--test`'s),
    the listing stops once more segments than that are planned.
    """
    plan = SegmentPlan(settings)
    pages = SegmentListPages(where)
    planner = _SegmentPlanner(settings, bookmarks, details=details, sizes=sizes)
    while True:
        try:
            number = pages.pages
            items = lister.list_page(number)
            if not items:
                plan.listed_whole = True
                return plan
            checked = pages.check(items)
        except SourceError as error:
            plan.listing_error = error
            return plan
        plan.add_page(
            ListedPage(
                number=number,
                segments=tuple(
                    planner.planned(item)
                    for item in checked.segments
                    if settings.wanted(item["id"])
                ),
                repeated=tuple((i, pages.page_of(i)) for i in checked.repeated),
            )
        )
        if at_most is not None and len(plan) > at_most:
            return plan


class _SegmentPlanner:
    """Each listed segment's calls. Segments whose bookmarks are alike share their windows and
    days: tens of thousands of segments hold a few dozen of each."""

    def __init__(
        self,
        settings: SegmentSettings,
        bookmarks: Mapping[str, Any],
        *,
        details: bool,
        sizes: bool,
    ) -> None:
        self._settings = settings
        self._bookmarks = bookmarks
        self._details = details
        self._sizes = sizes
        self._days: dict[str, date] = {}
        self._windows: dict[date, tuple[Window, ...]] = {}

    def planned(self, listed: dict[str, Any]) -> PlannedSegment:
        """The plan's view of an item of `/segments/list`: its name and its calls."""
        segment_id = listed["id"]
        name = listed.get("name")
        sized_until = self._day(self._bookmarks.get(segment_id))
        return PlannedSegment(
            id=segment_id,
            name=None if name is None else str(name),
            listed=listed,
            reads_details=self._details,
            windows=self._windows_from(sized_until) if self._sizes else (),
            sized_until=sized_until,
        )

    def _day(self, bookmark: Any) -> date | None:
        if not bookmark:
            return None
        text = str(bookmark)[:10]
        day = self._days.get(text)
        if day is None:
            day = self._days[text] = date.fromisoformat(text)
        return day

    def _windows_from(self, sized_until: date | None) -> tuple[Window, ...]:
        """The size windows from a bookmark (or `start_date`) to the run day."""
        settings = self._settings
        first_day = first_day_to_fetch(settings.start_date, sized_until, settings.lookback_days)
        windows = self._windows.get(first_day)
        if windows is None:
            windows = self._windows[first_day] = tuple(plan_windows(first_day, settings.run_day))
        return windows
