"""Braze streams: segments, their details, and each segment's daily size series."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator, PageNumberPaginator
from typing_extensions import override

from tap_segment_analytics import progress
from tap_segment_analytics.braze.client import BrazeStream
from tap_segment_analytics.braze.windows import (
    Window,
    first_day_to_fetch,
    plan_windows,
)
from tap_segment_analytics.errors import SourceError

DEFAULT_LOOKBACK_DAYS = 3


class Segments(BrazeStream):
    """`/segments/list`: 100 a page, page 0 first, until an empty page."""

    name = "braze_segments"
    path = "/segments/list"
    primary_keys = ("id",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen_ids: set[str] = set()
        # The segments of this run by id, for the child streams (their context holds the id only).
        self.listed: dict[str, dict[str, Any]] = {}

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
        """The `segments` array of a list page."""
        segments = self.json_body(response).get("segments")
        if not isinstance(segments, list):
            raise SourceError(f"Braze sent no 'segments' list on {self.describe()}")
        yield from progress.segment_sizes.listed(segments, self.wanted_ids)

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
        """Every listed segment, then a warning for each configured id Braze did not list."""
        self._seen_ids.clear()
        yield from super().get_records(context)
        for missing in sorted((self.wanted_ids or set()) - self._seen_ids):
            self.logger.warning(
                "braze_segment_ids: segment '%s' does not exist in this Braze workspace "
                "(or is archived); skipped",
                missing,
            )

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment id only: the SDK finalizes a child's bookmark per segment when its
        context equals its state partition."""
        return {"segment_id": record["id"]}


class SegmentDetails(BrazeStream):
    """`/segments/details` for each segment."""

    name = "braze_segment_details"
    path = "/segments/details"
    primary_keys = ("segment_id",)
    parent_stream_type = Segments
    # Full table: no per-segment bookmarks to keep.
    state_partitioning_keys: tuple[str, ...] = ()

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """The segment to describe."""
        return {"segment_id": context["segment_id"]}

    @override
    def get_new_paginator(self) -> None:
        """One request per segment."""
        return None

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The details object, keyed by the segment id."""
        body = self.json_body(response)
        if "name" not in body:
            raise SourceError(f"Braze sent segment details without 'name' on {self.describe()}")
        body.pop("message", None)
        assert self.context is not None
        yield {"segment_id": self.context["segment_id"], **body}


class _WindowPaginator(BaseAPIPaginator[Window | None]):
    """Steps through planned `data_series` windows: one request each."""

    def __init__(self, windows: list[Window]) -> None:
        super().__init__(windows[0] if windows else None)
        self._windows = windows

    @override
    def get_next(self, response: requests.Response) -> Window | None:
        index = self._windows.index(self.current_value) + 1 if self.current_value else 0
        return self._windows[index] if index < len(self._windows) else None

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A window before the segment existed is empty; later ones are not."""
        return True


class SegmentSizes(BrazeStream):
    """Each tracked segment's estimated size per day, from `/segments/data_series`.

    State is one bookmark per segment: the last day fetched. A later run starts at that day
    minus `braze_lookback_days`, because Braze restates recent sizes.
    """

    name = "braze_segment_sizes"
    path = "/segments/data_series"
    primary_keys = ("segment_id", "time")
    replication_key = "time"
    parent_stream_type = Segments
    state_partitioning_keys = ("segment_id",)
    # The SDK finalizes a partition's bookmark when its sync ends (the child context is exactly
    # {segment_id}), so an interrupted run keeps every segment it finished; the segment it was
    # in is read again from its previous bookmark.

    def today(self) -> date:
        """The current UTC day: the series ends before it (today is not complete yet)."""
        return datetime.now(timezone.utc).date()

    def windows_for(self, context: dict[str, Any]) -> list[Window]:
        """The windows this run asks for, from the segment's bookmark or `start_date`."""
        bookmark_value = self.get_starting_replication_key_value(context)
        bookmark = date.fromisoformat(str(bookmark_value)[:10]) if bookmark_value else None
        start_date = date.fromisoformat(str(self.config["start_date"])[:10])
        lookback = int(self.config.get("braze_lookback_days", DEFAULT_LOOKBACK_DAYS))
        return plan_windows(first_day_to_fetch(start_date, bookmark, lookback), self.today())

    def segment(self, segment_id: str) -> dict[str, Any]:
        """The segment as the parent stream listed it in this run."""
        parent = self._tap.streams[Segments.name]
        assert isinstance(parent, Segments)
        return parent.listed.get(segment_id, {"id": segment_id})

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The series of one tracked segment; untracked segments are skipped with a log line."""
        segment = self.segment(context["segment_id"])
        if segment.get("analytics_tracking_enabled") is False:
            self.logger.info(
                "braze_segment_sizes: skipping segment %s (%s): analytics tracking is off, "
                "Braze keeps no size history for it",
                context["segment_id"],
                segment.get("name"),
            )
            return
        self._segment_name = segment.get("name")
        self._windows = self.windows_for(context)
        progress.segment_sizes.segment(self.logger, segment, self._windows)
        if self._windows:
            yield from super().get_records(context)

    @override
    def get_new_paginator(self) -> _WindowPaginator:
        """One request per window planned in `get_records`."""
        self._paginator = _WindowPaginator(self._windows)
        return self._paginator

    @override
    def get_url_params(self, context: Any, next_page_token: Window | None) -> dict[str, Any]:
        """`segment_id`, `length` and `ending_at` of the current window."""
        assert next_page_token is not None
        return {
            "segment_id": context["segment_id"],
            "length": next_page_token.length,
            "ending_at": next_page_token.ending_at,
        }

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The window's days, oldest first, as records with the segment's id and name."""
        body = self.json_body(response)
        series = body.get("data")
        if not isinstance(series, list):
            raise SourceError(f"Braze sent no 'data' series on {self.describe()}")
        # Parsing happens before the paginator advances: its value is this response's window.
        window = self._paginator.current_value
        assert window is not None
        assert self.context is not None
        rows = []
        for point in series:
            try:
                day = date.fromisoformat(str(point["time"])[:10])
                size = int(point["size"])
            except (KeyError, TypeError, ValueError):
                raise SourceError(
                    f"Braze sent an unexpected data point {point!r} on {self.describe()}"
                ) from None
            # Braze's series order is not documented: sort, and keep only the asked-for days.
            if day in window:
                rows.append((day, size))
        for day, size in sorted(rows):
            yield {
                "segment_id": self.context["segment_id"],
                "time": day.isoformat(),
                "size": size,
                "name": self._segment_name,
            }
