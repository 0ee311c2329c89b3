"""Braze streams: segments, their details, and each segment's daily size series."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime, timezone
from functools import partial
from http import HTTPStatus
from typing import Any, TypeVar

import requests
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from tap_segment_analytics.braze.client import BrazeStream
from tap_segment_analytics.braze.read_ahead import BrazeReadAhead
from tap_segment_analytics.braze.segment_list import SegmentListPages
from tap_segment_analytics.braze.series import BadPoint, DailySizes, parse_point
from tap_segment_analytics.braze.windows import (
    Window,
    first_day_to_fetch,
    plan_windows,
)
from tap_segment_analytics.errors import SourceError

DEFAULT_LOOKBACK_DAYS = 3
_T = TypeVar("_T")


class SegmentGone(SourceError):
    """Braze answered 404 for a segment it had listed: deleted since (an ordinary event)."""


class Segments(BrazeStream):
    """`/segments/list`: 100 a page, page 0 first, until an empty page."""

    name = "braze_segments"
    path = "/segments/list"
    primary_keys = ("id",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen_ids: set[str] = set()
        self._deleted: set[str] = set()
        self.list_pages = SegmentListPages(self.path or "")
        # The segments of this run by id, for the child streams (their context holds the id only).
        self.listed: dict[str, dict[str, Any]] = {}
        self.read_ahead: BrazeReadAhead | None = None

    @property
    def wanted_ids(self) -> set[str] | None:
        """`braze_segment_ids`, or None for every segment."""
        ids = self.config.get("braze_segment_ids")
        return set(ids) if ids else None

    @override
    def get_new_paginator(self) -> PageNumberPaginator:
        """Page numbers from 0; the SDK stops at the first page without records."""
        return PageNumberPaginator(0)

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """Oldest first, so a segment created mid-sync cannot shift earlier pages."""
        return {"page": next_page_token, "sort_direction": "asc"}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The `segments` array of a list page, each segment once; its wanted segments are
        read ahead."""
        items = self.json_body(response).get("segments")
        if not isinstance(items, list):
            raise SourceError(f"Braze sent no 'segments' list on {self.describe()}")
        page = self.list_pages.check(items)
        for segment_id in page.repeated:
            self.logger.warning(
                "braze_segments: Braze listed segment %s again on page %d of %s (first on page "
                "%s); synced once",
                segment_id,
                self.list_pages.pages - 1,
                self.path,
                self.list_pages.page_of(segment_id),
            )
        segments = page.segments
        wanted = self.wanted_ids
        if self.read_ahead is not None:
            self.read_ahead.add([s for s in segments if wanted is None or s.get("id") in wanted])
        yield from self.runtime.progress.listed(segments, wanted)

    @override
    def post_process(self, row: dict, context: Any = None) -> dict | None:
        """Keep only `braze_segment_ids` when the setting is given."""
        self._seen_ids.add(row["id"])
        wanted = self.wanted_ids
        if wanted is not None and row["id"] not in wanted:
            return None
        self.listed[row["id"]] = row
        return row

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Every listed segment, then a warning for each configured id Braze did not list.

        The segments' details and sizes are read ahead while the list is synced.
        """
        self._seen_ids.clear()
        self._deleted.clear()
        self.list_pages.reset()
        self.read_ahead = self.start_read_ahead()
        try:
            yield from super().get_records(context)
        finally:
            if self.read_ahead is not None:
                self.read_ahead.close()
                self.read_ahead = None
        for missing in sorted((self.wanted_ids or set()) - self._seen_ids):
            self.logger.warning(
                "braze_segment_ids: segment '%s' does not exist in this Braze workspace "
                "(or is archived); skipped",
                missing,
            )

    def start_read_ahead(self) -> BrazeReadAhead | None:
        """Read the selected child streams ahead, unless `braze_concurrency` is 1."""
        workers = self.calls_at_once()
        if workers <= 1:
            return None
        children = {child.name: child for child in self.child_streams if child.selected}
        details = children.get(SegmentDetails.name)
        sizes = children.get(SegmentSizes.name)
        return BrazeReadAhead(
            details=details if isinstance(details, SegmentDetails) else None,
            sizes=sizes if isinstance(sizes, SegmentSizes) else None,
            workers=workers,
        )

    def skip_deleted(self, segment_id: str, gone: SegmentGone) -> None:
        """One WARNING for a segment deleted in Braze after it was listed; the run goes on."""
        if segment_id in self._deleted:
            return
        self._deleted.add(segment_id)
        self.logger.warning(
            "braze: segment %s (%s) was deleted in Braze after it was listed (%s): skipped",
            segment_id,
            self.listed.get(segment_id, {}).get("name"),
            gone,
        )

    def take(self, key: Hashable, call: Callable[[], _T]) -> _T:
        """A child's result: read ahead, or fetched now."""
        return call() if self.read_ahead is None else self.read_ahead.take(key, call)

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment id only: the SDK finalizes a child's bookmark per segment when its
        context equals its state partition."""
        return {"segment_id": record["id"]}


class SegmentChild(BrazeStream):
    """A stream read once per listed segment, possibly ahead of the sync."""

    parent_stream_type = Segments

    @property
    def segments(self) -> Segments:
        """The parent stream: this run's listed segments and their read-ahead."""
        return self.sibling(Segments)

    @override
    def get_new_paginator(self) -> None:
        """One request per call."""
        return None

    @override
    def validate_response(self, response: requests.Response) -> None:
        """A 404 means the listed segment was deleted since: `SegmentGone`."""
        if response.status_code == HTTPStatus.NOT_FOUND:
            self.rate_gate.observe(response.headers)
            raise SegmentGone(f"404 on {self.describe()}: {self.error_detail(response)}")
        super().validate_response(response)


class SegmentDetails(SegmentChild):
    """`/segments/details` for each segment."""

    name = "braze_segment_details"
    path = "/segments/details"
    primary_keys = ("segment_id",)
    # Full table: no per-segment bookmarks to keep.
    state_partitioning_keys: tuple[str, ...] = ()

    def key(self, context: dict[str, Any]) -> Hashable:
        """What the read-ahead knows this call by."""
        return (self.name, context["segment_id"])

    def fetch(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        """The details body (a worker may call this ahead of the sync)."""
        return list(self.request_records(context))

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """The segment to describe."""
        return {"segment_id": context["segment_id"]}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The details object."""
        body = self.json_body(response)
        if "name" not in body:
            raise SourceError(f"Braze sent segment details without 'name' on {self.describe()}")
        body.pop("message", None)
        yield body

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The segment's details, keyed by its id; nothing for a segment deleted since."""
        try:
            bodies = self.segments.take(self.key(context), partial(self.fetch, context))
        except SegmentGone as gone:
            self.segments.skip_deleted(context["segment_id"], gone)
            return
        for body in bodies:
            yield {"segment_id": context["segment_id"], **body}


class SegmentSizes(SegmentChild):
    """Each tracked segment's estimated size per day, from `/segments/data_series`.

    State is one bookmark per segment: the last day fetched. A later run starts at that day
    minus `braze_lookback_days`, because Braze restates recent sizes.
    """

    name = "braze_segment_sizes"
    path = "/segments/data_series"
    primary_keys = ("segment_id", "time")
    replication_key = "time"
    state_partitioning_keys = ("segment_id",)
    # The SDK finalizes a partition's bookmark when its sync ends (the child context is exactly
    # {segment_id}), so an interrupted run keeps every segment it finished; the segment it was
    # in is read again from its previous bookmark.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run_day = datetime.now(timezone.utc).date()

    def today(self) -> date:
        """The UTC day the run started: the series ends before it (that day is not complete).
        One day for the whole run, so the read-ahead and the sync plan the same windows even
        when midnight passes in between."""
        return self._run_day

    def windows_for(self, context: dict[str, Any]) -> list[Window]:
        """The windows this run asks for, from the segment's bookmark or `start_date`."""
        bookmark_value = self.bookmark(context)
        bookmark = date.fromisoformat(str(bookmark_value)[:10]) if bookmark_value else None
        start_date = date.fromisoformat(str(self.config["start_date"])[:10])
        lookback = int(self.config.get("braze_lookback_days", DEFAULT_LOOKBACK_DAYS))
        return plan_windows(first_day_to_fetch(start_date, bookmark, lookback), self.today())

    def bookmark(self, context: dict[str, Any]) -> Any:
        """The segment's bookmark as the run started with it.

        Read without the SDK's `get_starting_replication_key_value`, which is only set once the
        segment's sync starts, and without creating a partition: the read-ahead thread plans a
        segment's windows before the sync reaches it.
        """
        partition = self.partition_state({"segment_id": context["segment_id"]})
        return partition.get("replication_key_value") if partition else None

    @staticmethod
    def tracked(segment: dict[str, Any]) -> bool:
        """Whether Braze keeps a size history for the segment."""
        return segment.get("analytics_tracking_enabled") is not False

    def key(self, context: dict[str, Any], window: Window) -> Hashable:
        """What the read-ahead knows a window's call by."""
        return (self.name, context["segment_id"], window)

    def fetch(self, context: dict[str, Any], window: Window) -> list[dict[str, Any]]:
        """The data points Braze answers for one window (a worker may call this ahead)."""
        return list(
            self.request_records(
                {**context, "length": window.length, "ending_at": window.ending_at}
            )
        )

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The series of one tracked segment, one record per day; untracked segments are
        skipped with a log line, and a segment deleted since it was listed with a WARNING (the
        days of its windows read before stand, and its bookmark moves only that far).
        """
        segment = self.segments.listed.get(context["segment_id"], {"id": context["segment_id"]})
        if not self.tracked(segment):
            self.logger.info(
                "braze_segment_sizes: skipping segment %s (%s): analytics tracking is off, "
                "Braze keeps no size history for it",
                context["segment_id"],
                segment.get("name"),
            )
            return
        windows = self.windows_for(context)
        self.runtime.progress.segment(self.logger, segment, windows)
        series = DailySizes()
        gone: SegmentGone | None = None
        for window in windows:
            try:
                points = self.segments.take(
                    self.key(context, window), partial(self.fetch, context, window)
                )
            except SegmentGone as exc:
                gone = exc  # the other windows are still taken, to free their read-ahead
                continue
            if gone is not None:
                continue
            days: set[date] = set()
            for item in points:
                if item["point"].day in window:  # only the asked-for days
                    days.add(item["point"].day)
                    series.add(item["point"])
            # Braze's series order is not documented: sorted.
            for day in sorted(days):
                yield {
                    "segment_id": context["segment_id"],
                    "time": day.isoformat(),
                    "size": series.sizes[day],
                    "name": segment.get("name"),
                }
        if gone is not None:
            self.segments.skip_deleted(context["segment_id"], gone)
        for oddity in series.oddities():
            self.logger.warning(
                "braze_segment_sizes: Braze sent %s for segment %s (%s)",
                oddity,
                context["segment_id"],
                segment.get("name"),
            )

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """`segment_id`, `length` and `ending_at` of the window being read."""
        return {
            "segment_id": context["segment_id"],
            "length": context["length"],
            "ending_at": context["ending_at"],
        }

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The series' data points, each as `{"point": Point}`."""
        series = self.json_body(response).get("data")
        if not isinstance(series, list):
            raise SourceError(f"Braze sent no 'data' series on {self.describe()}")
        for point in series:
            try:
                yield {"point": parse_point(point)}
            except BadPoint:
                raise SourceError(
                    f"Braze sent an unexpected data point {point!r} on {self.describe()}"
                ) from None
