"""The App Store Connect streams of a run, wired to the run's plan.

Client → plan → fetch → emit: api/client.py speaks the API; plan/ decides from its answers what
a run reads and in which order; fetch/ lists and downloads it, ahead of the sync or as it needs
it; the streams below only emit it. They nest as the SDK must emit them (a report's instances
after the report, an instance's segments and rows before its dates and before its bookmark
moves; each parent names its children's order: `children_for`):

    ReportRequests → Reports → ReportInstances → ReportSegments → one rows stream
                                               → ReportDates
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from tap_segment_analytics.appstore.plan.app_plan import (
    DEFAULT_CONCURRENCY,
    AppStorePlan,
    Loggers,
    Settings,
)
from tap_segment_analytics.appstore.reports import rows_stream_name
from tap_segment_analytics.config_checks import utc_today
from tap_segment_analytics.sdk.state import PartitionStates

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


def appstore_streams(tap: Tap, runtime: AppStoreRuntime) -> list[Stream]:
    """Every App Store stream of the run; the run's plan is made from the client's answers
    once a sync first needs it (`runtime.plan`), when the catalog's selection is known."""
    requests = ReportRequests(tap, runtime)
    reports = Reports(tap, runtime)
    instances = ReportInstances(tap, runtime)
    segments = ReportSegments(tap, runtime)
    dates = ReportDates(tap, runtime)
    rows_streams: list[ReportRows] = [cls(tap, runtime) for cls in report_rows_streams()]
    rows_streams.append(GenericReportRows(tap, runtime))

    def make_plan() -> AppStorePlan:
        selected = frozenset(stream.name for stream in rows_streams if stream.selected)
        return AppStorePlan(
            Settings.from_config(tap.config),
            api=runtime.client,
            bookmarks=PartitionStates(instances.state_manager),
            loggers=Loggers(requests.logger, reports.logger, instances.logger),
            rows_selected=lambda name: rows_stream_name(name) in selected,
            count_dates=dates.selected,
            today=utc_today,
            skipped=runtime.summary.skipped,
        )

    runtime.plan_with(make_plan)
    return [requests, reports, instances, segments, dates, *rows_streams]
