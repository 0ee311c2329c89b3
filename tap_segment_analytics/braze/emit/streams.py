"""The Braze streams: segments, their details, and each segment's daily size series.

They emit what the run's plan (plan/) and the fetched results (fetch/) hand them, and nothing
else: no stream calls Braze. The list's sync makes the plan, from the client's answers, before
its first record; each segment's records come from the results of its planned calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from singer_sdk import StreamSchema
from typing_extensions import override

from tap_segment_analytics.braze.api.answers import BrazeRefused, SegmentGone
from tap_segment_analytics.braze.api.client import LIST_PATH
from tap_segment_analytics.braze.emit.series import BadPoint, DailySizes, parse_point
from tap_segment_analytics.braze.plan.segment_plan import PlannedSegment, SegmentPlan
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.schemas import SCHEMAS
from tap_segment_analytics.sdk.state import keyed_field
from tap_segment_analytics.sdk.streams import EmittingStream

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_segment_analytics.braze.runtime import BrazeRuntime


class BrazeStream(EmittingStream):
    """A stream of the Braze source, handed the source's runtime."""

    schema = StreamSchema(SCHEMAS)

    def __init__(self, tap: Tap, runtime: BrazeRuntime) -> None:
        """`runtime`: what the Braze streams share in this run (made by the Tap)."""
        self.runtime = runtime
        super().__init__(tap, runtime.summary)


class Segments(BrazeStream):
    """`/segments/list`: every wanted segment, in list order.

    Its sync makes the run's plan before its first record, for the selected child streams,
    and starts reading their calls ahead.
    """

    name = "braze_segments"
    primary_keys = ("id",)

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """Every listed segment, then a warning for each configured id Braze did not list.

        The segments' details and sizes are read ahead while the list is emitted; a listing
        that failed part-way stops the source after the segments listed before it.
        """
        plan = self.make_plan()
        wanted = plan.settings.wanted_ids
        try:
            for page in plan.pages:
                for segment_id, first_page in page.repeated:
                    self.logger.warning(
                        "braze_segments: Braze listed segment %s again on page %d of %s (first "
                        "on page %s); synced once",
                        segment_id,
                        page.number,
                        LIST_PATH,
                        first_page,
                    )
                listed = [segment.listed for segment in page.segments]
                yield from self.runtime.progress.listed(listed, wanted)
            if plan.listing_error is not None:
                raise plan.listing_error
        finally:
            self.runtime.stop_reading_ahead()
        for missing in plan.missing_ids():
            self.logger.warning(
                "braze_segment_ids: segment '%s' does not exist in this Braze workspace "
                "(or is archived); skipped",
                missing,
            )
        for line in self.runtime.refusals.lines():
            self.logger.warning("%s", line)

    def make_plan(self) -> SegmentPlan:
        """The run's plan, for the selected child streams, from each segment's sizes bookmark
        as the run starts; a record limit (`--test`'s) lists no more than it needs."""
        children = [child for child in self.child_streams if child.selected]
        sizes = next((child for child in children if isinstance(child, SegmentSizes)), None)
        return self.runtime.make_plan(
            bookmarks=sizes.bookmarks() if sizes is not None else {},
            details=any(isinstance(child, SegmentDetails) for child in children),
            sizes=sizes is not None,
            at_most=self.ABORT_AT_RECORD_COUNT,
        )

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment id only: the SDK finalizes a child's bookmark per segment when its
        context equals its state partition."""
        return {"segment_id": record["id"]}


class SegmentChild(BrazeStream):
    """A stream read once per listed segment: it emits the results of its planned calls."""

    parent_stream_type = Segments
    # What the call answers and what a refused segment keeps, in the run's refusals line.
    answers: str
    kept_when_refused = ""

    def planned(self, context: Mapping[str, Any]) -> PlannedSegment:
        """The segment this sync is for, as the plan listed it."""
        return self.runtime.plan.segment(context["segment_id"])

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
        if self.runtime.deleted.first_deletion(segment.id):
            self.runtime.logger.getChild(Segments.name).warning(
                "braze: segment %s (%s) was deleted in Braze after it was listed (%s): skipped",
                segment.id,
                segment.name,
                gone,
            )


class SegmentDetails(SegmentChild):
    """`/segments/details` for each segment."""

    name = "braze_segment_details"
    primary_keys = ("segment_id",)
    # Full table: no per-segment bookmarks to keep.
    state_partitioning_keys: tuple[str, ...] = ()
    answers = "details"

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The segment's details, keyed by its id; nothing for a segment deleted since or
        refused. Braze marks only `message` required: details without a `name` (or with a
        null one) have the list's."""
        segment = self.planned(context)
        if segment.details is None:
            return
        try:
            body = self.runtime.fetches.details(segment.details)
        except SegmentGone as gone:
            self.skip_deleted(segment, gone)
            return
        except BrazeRefused as refused:
            self.skip_refused(segment, refused, "its details refused")
            return
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
    primary_keys = ("segment_id", "time")
    replication_key = "time"
    state_partitioning_keys = ("segment_id",)
    # Bookmarks as one object by segment id (sdk.state.KeyedStateManager), not a partition
    # object each: tens of thousands of segments.
    KEYED_BOOKMARKS = True
    answers = "size series"
    kept_when_refused = "the days received before"
    # The SDK finalizes a partition's bookmark when its sync ends (the child context is exactly
    # {segment_id}), so an interrupted run keeps every segment it finished; the segment it was
    # in is read again from its previous bookmark. The SDK is the bookmark's only writer; the
    # plan reads the bookmarks the run starts with (`bookmarks`) to plan each segment's windows.

    def bookmarks(self) -> Mapping[str, Any]:
        """Each segment's bookmark as the run starts, by segment id (the keyed state's object,
        read before any segment's sync)."""
        (partition_key,) = self.state_partitioning_keys
        stream_state = self.tap_state.get("bookmarks", {}).get(self.name, {})
        by_id: Mapping[str, Any] = stream_state.get(keyed_field(partition_key), {})
        return by_id

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The series of one segment, one record per day. A segment deleted since it was
        listed is skipped with a WARNING, one Braze refuses is counted in the run's refusals
        line: either way the days of its windows read before stand, and its bookmark moves
        only that far.
        """
        segment = self.planned(context)
        self.runtime.progress.segment(
            self.logger, {"id": segment.id, "name": segment.name}, segment.windows
        )
        series = DailySizes()
        stopped: SourceError | None = None
        stopped_at = segment.windows[0] if segment.windows else None
        for call in segment.sizes:
            try:
                points = self.runtime.fetches.data_series(call)
            except (SegmentGone, BrazeRefused) as exc:
                if stopped is None:
                    stopped, stopped_at = exc, call.window
                continue  # the later windows are still taken, to free their read-ahead
            if stopped is not None:
                continue
            if points is None:
                series.without_data += 1
                continue
            days: set[date] = set()
            for raw in points:
                try:
                    point = parse_point(raw)
                except BadPoint:
                    series.leave_out(raw)
                    continue
                if point.day in call.window:  # only the asked-for days
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
        for oddity in series.oddities(since=segment.sized_until):
            self.logger.warning(
                "braze_segment_sizes: Braze sent %s for segment %s (%s)",
                oddity,
                segment.id,
                segment.name,
            )
