"""Braze streams: segments, their details, and each segment's daily size series."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from functools import partial
from http import HTTPStatus
from typing import Any

import requests
from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from tap_segment_analytics.braze.client import BrazeRefused, BrazeStream
from tap_segment_analytics.braze.plan import (
    DetailsCall,
    PlannedSegment,
    SegmentPlan,
    SegmentSettings,
    SizesCall,
)
from tap_segment_analytics.braze.series import BadPoint, DailySizes, Point, parse_point
from tap_segment_analytics.errors import SourceError


class SegmentGone(SourceError):
    """Braze answered 404 for a segment it had listed: deleted since (an ordinary event)."""


class Segments(BrazeStream):
    """`/segments/list`: 100 a page, page 0 first, until an empty page.

    Its sync makes the run's plan (`braze/plan.py`) and starts reading ahead the calls of its
    child streams, the selected ones.
    """

    name = "braze_segments"
    path = "/segments/list"
    primary_keys = ("id",)

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
        """The `segments` array of a list page, each segment once; the calls of its wanted
        segments are read ahead."""
        items = self.json_body(response).get("segments")
        if not isinstance(items, list):
            raise SourceError(f"Braze sent no 'segments' list on {self.describe()}")
        plan = self.runtime.current_plan()
        page = plan.list_page(items)
        for segment_id in page.repeated:
            self.logger.warning(
                "braze_segments: Braze listed segment %s again on page %d of %s (first on page "
                "%s); synced once",
                segment_id,
                plan.pages.pages - 1,
                self.path,
                plan.pages.page_of(segment_id),
            )
        self.runtime.fetches.add(plan.fetch_units())
        yield from self.runtime.progress.listed(page.segments, plan.settings.wanted_ids)

    @override
    def post_process(self, row: dict, context: Any = None) -> dict | None:
        """Keep only `braze_segment_ids` when the setting is given."""
        return row if self.runtime.current_plan().wanted(row["id"]) else None

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Every listed segment, then a warning for each configured id Braze did not list.

        The segments' details and sizes are read ahead while the list is synced.
        """
        plan = self.start_plan()
        try:
            yield from super().get_records(context)
        finally:
            self.runtime.fetches.close()
        for missing in plan.missing_ids():
            self.logger.warning(
                "braze_segment_ids: segment '%s' does not exist in this Braze workspace "
                "(or is archived); skipped",
                missing,
            )
        for line in self.runtime.refusals.lines():
            self.logger.warning("%s", line)

    def start_plan(self) -> SegmentPlan:
        """The run's plan, for the selected child streams, whose calls are read ahead from now
        on (`braze_concurrency` at a time)."""
        children = [
            child
            for child in self.child_streams
            if child.selected and isinstance(child, SegmentChild)
        ]
        fetchers: dict[type, Callable[[Any], list[dict[str, Any]]]] = {
            child.unit_type: child.fetch for child in children
        }
        sizes = next((child for child in children if isinstance(child, SegmentSizes)), None)
        plan = self.runtime.plan = SegmentPlan(
            SegmentSettings.from_config(self.config, self.runtime.run_day),
            bookmark=sizes.bookmark if sizes is not None else lambda segment_id: None,
            details=DetailsCall in fetchers,
            sizes=SizesCall in fetchers,
            where=self.path or "",
        )
        self.runtime.fetches.start(
            lambda unit: fetchers[type(unit)](unit), workers=self.calls_at_once()
        )
        return plan

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment id only: the SDK finalizes a child's bookmark per segment when its
        context equals its state partition."""
        return {"segment_id": record["id"]}


class SegmentChild(BrazeStream):
    """A stream read once per listed segment: it emits the results of its plan's calls."""

    parent_stream_type = Segments
    unit_type: type  # the plan's call this stream makes
    # What the call answers and what a refused segment keeps, in the run's refusals line.
    answers: str
    kept_when_refused = ""

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

    def planned(self, context: dict[str, Any]) -> PlannedSegment:
        """The segment this sync is for, as the plan listed it."""
        return self.runtime.current_plan().segment(context["segment_id"])

    def fetch(self, unit: Any) -> list[dict[str, Any]]:
        """The records of one of the plan's calls (a worker may call this ahead of the sync)."""
        raise NotImplementedError

    def take(self, unit: Any) -> list[dict[str, Any]]:
        """A call's records: read ahead, or fetched now."""
        return self.runtime.fetches.take(unit, partial(self.fetch, unit))

    def skip_refused(self, segment: PlannedSegment, refused: BrazeRefused, asked: str) -> None:
        """A segment Braze refused (`asked`: what of it): skipped for the run, a DEBUG line
        now, counted in the run's refusals line and summary."""
        self.logger.debug(
            "%s: segment %s (%s) skipped for this run, %s: %s",
            self.name,
            segment.id,
            segment.name,
            asked,
            refused,
        )
        self.runtime.refusals.add(
            self.name, segment.id, refused.reason, what=self.answers, kept=self.kept_when_refused
        )
        self.summary.count(self.name, skipped=1)

    def skip_deleted(self, segment: PlannedSegment, gone: SegmentGone) -> None:
        """One WARNING (on the list's logger) for a segment deleted in Braze after it was
        listed; the run goes on."""
        self.summary.count(self.name, skipped=1)
        if self.runtime.current_plan().first_deletion(segment.id):
            self.runtime.logger.getChild(Segments.name).warning(
                "braze: segment %s (%s) was deleted in Braze after it was listed (%s): skipped",
                segment.id,
                segment.name,
                gone,
            )


class SegmentDetails(SegmentChild):
    """`/segments/details` for each segment."""

    name = "braze_segment_details"
    path = "/segments/details"
    primary_keys = ("segment_id",)
    # Full table: no per-segment bookmarks to keep.
    state_partitioning_keys: tuple[str, ...] = ()
    unit_type = DetailsCall
    answers = "details"

    @override
    def fetch(self, unit: DetailsCall) -> list[dict[str, Any]]:
        """The details body."""
        return list(self.request_records({"segment_id": unit.segment_id}))

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """The segment to describe."""
        return {"segment_id": context["segment_id"]}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The details object, without the answer's status (`message`, `errors`)."""
        body = self.json_body(response)
        body.pop("message", None)
        body.pop("errors", None)
        yield body

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The segment's details, keyed by its id; nothing for a segment deleted since or
        refused. Braze marks only `message` required: details without a `name` (or with a
        null one) have the list's."""
        segment = self.planned(context)
        try:
            bodies = self.take(DetailsCall(segment.id))
        except SegmentGone as gone:
            self.skip_deleted(segment, gone)
            return
        except BrazeRefused as refused:
            self.skip_refused(segment, refused, "its details refused")
            return
        for body in bodies:
            if body.get("name") is None:
                body["name"] = segment.name
            yield {"segment_id": segment.id, **body}


class SegmentSizes(SegmentChild):
    """Each segment's estimated size per day, from `/segments/data_series`.

    State is one bookmark per segment: the last day fetched. A later run starts at that day
    minus `braze_lookback_days`, because Braze restates recent sizes.

    The bookmark never passes a day not received: a segment's windows are emitted in order, and
    the first one Braze refuses (or answers 404 for) ends the segment's run, the windows before
    it standing. A window Braze answers with success covers its days, sized or not: Braze leaves
    out the days before a segment existed, and a segment created after `start_date` must not
    be asked for them again and again.
    """

    name = "braze_segment_sizes"
    path = "/segments/data_series"
    primary_keys = ("segment_id", "time")
    replication_key = "time"
    state_partitioning_keys = ("segment_id",)
    # Bookmarks as one object by segment id (sdk_state.KeyedStateManager), not a partition
    # object each: tens of thousands of segments.
    KEYED_BOOKMARKS = True
    unit_type = SizesCall
    answers = "size series"
    kept_when_refused = "the days received before"
    # The SDK finalizes a partition's bookmark when its sync ends (the child context is exactly
    # {segment_id}), so an interrupted run keeps every segment it finished; the segment it was
    # in is read again from its previous bookmark. The SDK is the bookmark's only writer; the
    # plan reads it (`bookmark`) to plan the segment's windows.

    def bookmark(self, segment_id: str) -> Any:
        """The segment's bookmark as the run started with it.

        Read without the SDK's `get_starting_replication_key_value`, which is only set once the
        segment's sync starts, and without creating a partition: the plan reads it when the
        segment is listed, before the sync reaches it.
        """
        partition = self.partition_state({"segment_id": segment_id})
        return partition.get("replication_key_value") if partition else None

    @override
    def fetch(self, unit: SizesCall) -> list[dict[str, Any]]:
        """The data points Braze answers for one window."""
        return list(
            self.request_records(
                {
                    "segment_id": unit.segment_id,
                    "length": unit.window.length,
                    "ending_at": unit.window.ending_at,
                }
            )
        )

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The series of one segment, one record per day. A segment deleted since it was
        listed is skipped with a WARNING, one Braze refuses is counted in the run's refusals
        line: either way the days of its windows read before stand, and its bookmark moves
        only that far.
        """
        segment = self.planned(context)
        self.runtime.progress.segment(
            self.logger, {"id": segment.id, "name": segment.name}, [c.window for c in segment.sizes]
        )
        bookmark = self.bookmark(segment.id)
        series = DailySizes()
        stopped: SourceError | None = None
        stopped_at = segment.sizes[0].window if segment.sizes else None
        for call in segment.sizes:
            try:
                points = self.take(call)
            except (SegmentGone, BrazeRefused) as exc:
                if stopped is None:
                    stopped, stopped_at = exc, call.window
                continue  # the later windows are still taken, to free their read-ahead
            if stopped is not None:
                continue
            days: set[date] = set()
            for item in points:
                point = item.get("point")
                if item.get("without_data"):
                    series.without_data += 1
                elif not isinstance(point, Point):
                    series.leave_out(item.get("unread"))
                elif point.day in call.window:  # only the asked-for days
                    days.add(point.day)
                    series.add(point)
            # Braze's series order is not documented: sorted.
            for day in sorted(days):
                yield {
                    "segment_id": segment.id,
                    "time": day.isoformat(),
                    "size": series.sizes[day],
                    "name": segment.name,
                }
        if isinstance(stopped, SegmentGone):
            self.skip_deleted(segment, stopped)
        elif isinstance(stopped, BrazeRefused) and stopped_at is not None:
            last = stopped_at.end - timedelta(days=1)
            self.skip_refused(
                segment, stopped, f"its days from {stopped_at.start} to {last} refused"
            )
        sized_before = date.fromisoformat(str(bookmark)[:10]) if bookmark else None
        for oddity in series.oddities(since=sized_before):
            self.logger.warning(
                "braze_segment_sizes: Braze sent %s for segment %s (%s)",
                oddity,
                segment.id,
                segment.name,
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
        """The series' data points, each as `{"point": Point}`, or `{"unread": point}` for one
        without a day or a size. A success without `data` (not marked required) has no points:
        `{"without_data": True}` says so."""
        series = self.json_body(response).get("data")
        if series is None:
            yield {"without_data": True}
            return
        if not isinstance(series, list):
            kind = f"'data' as a JSON {type(series).__name__}, not a list"
            raise BrazeRefused(f"Braze sent {kind} on {self.describe()}", kind)
        for point in series:
            try:
                yield {"point": parse_point(point)}
            except BadPoint:
                yield {"unread": point}
