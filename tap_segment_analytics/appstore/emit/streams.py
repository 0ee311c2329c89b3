"""The App Store Connect streams of a run, wired to the run's plan.

Plan → fetch → emit: plan.py (and partition_plan.py) decide what a run reads and in which
order; read_ahead.py fetches it ahead of the sync; the streams below only emit it. They nest
as the SDK must emit them (a report's instances after the report, an instance's segments and
rows before its bookmark moves):

    ReportRequests → Reports → ReportInstances → ReportSegments → one rows stream
                                               → ReportDates
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_segment_analytics.appstore.emit.dates_stream import ReportDates
from tap_segment_analytics.appstore.emit.instances_stream import ReportInstances
from tap_segment_analytics.appstore.emit.reports_stream import Reports
from tap_segment_analytics.appstore.emit.requests_stream import ReportRequests
from tap_segment_analytics.appstore.emit.rows_streams import (
    GenericReportRows,
    ReportRows,
    report_rows_streams,
)
from tap_segment_analytics.appstore.emit.segments_stream import ReportSegments
from tap_segment_analytics.appstore.emit.streams_api import StreamsApi
from tap_segment_analytics.appstore.fetch.read_ahead import AppReadAhead
from tap_segment_analytics.appstore.plan.app_plan import (
    DEFAULT_CONCURRENCY,
    AppPlan,
    AppStorePlan,
    Loggers,
    Settings,
)
from tap_segment_analytics.appstore.reports import rows_stream_name

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

    from tap_segment_analytics.appstore.runtime import AppStoreRuntime

# The stream classes, for modules that name them (state_reading.py, current_rows_models.py).
__all__ = [
    "DEFAULT_CONCURRENCY",
    "GenericReportRows",
    "ReportDates",
    "ReportInstances",
    "ReportRequests",
    "ReportRows",
    "ReportSegments",
    "Reports",
    "appstore_streams",
]


class InstanceBookmarks:
    """The partitions' states, kept by the instances stream's state manager."""

    def __init__(self, instances: ReportInstances) -> None:
        self._instances = instances

    def state(self, partition: dict[str, Any]) -> dict[str, Any]:
        """The partition's state (made when missing)."""
        return self._instances.get_context_state(partition)

    def stream_state(self) -> dict[str, Any]:
        """The instances stream's state."""
        return self._instances.stream_state


def appstore_streams(tap: Tap, runtime: AppStoreRuntime) -> list[Stream]:
    """Every App Store stream of the run, and the run's plan over them (in `runtime.plan`)."""
    requests = ReportRequests(tap, runtime)
    reports = Reports(tap, runtime)
    instances = ReportInstances(tap, runtime)
    segments = ReportSegments(tap, runtime)
    dates = ReportDates(tap, runtime)
    rows_streams: list[ReportRows] = [cls(tap, runtime) for cls in report_rows_streams()]
    rows_streams.append(GenericReportRows(tap, runtime))
    rows = {stream.name: stream for stream in rows_streams}

    def rows_for(report_name: str) -> ReportRows:
        return rows[rows_stream_name(report_name)]

    def make_plan() -> AppStorePlan:
        settings = Settings.from_config(tap.config)

        def read_ahead(app: AppPlan) -> AppReadAhead:
            return AppReadAhead(app, workers=settings.concurrency)

        return AppStorePlan(
            settings,
            api=StreamsApi(
                requests=requests,
                reports=reports,
                instances=instances,
                segments=segments,
                rows_for=rows_for,
            ),
            bookmarks=InstanceBookmarks(instances),
            loggers=Loggers(requests.logger, reports.logger, instances.logger),
            rows_selected=lambda name: rows_for(name).selected,
            count_dates=lambda: dates.selected,
            today=instances.today,
            read_ahead=read_ahead if settings.concurrency > 1 else None,
            skipped=runtime.summary.skipped,
        )

    runtime.plan_with(make_plan)
    return [requests, reports, instances, segments, dates, *rows_streams]
