"""The plan's API calls (plan.Api), each made through the stream whose path it reads: its
retries, errors, rate budget and request counts are that stream's, and its error lines name the
context the call was for (as the sync's own context would), whichever thread makes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tap_segment_analytics.prefetch import for_context

if TYPE_CHECKING:
    from tap_segment_analytics.appstore.emit.instances_stream import ReportInstances
    from tap_segment_analytics.appstore.emit.reports_stream import Reports
    from tap_segment_analytics.appstore.emit.requests_stream import Creation, ReportRequests
    from tap_segment_analytics.appstore.emit.rows_streams import ReportRows
    from tap_segment_analytics.appstore.emit.segments_stream import ReportSegments
    from tap_segment_analytics.appstore.fetch.report_files import SegmentFile

_T = TypeVar("_T")
Context = dict[str, Any]
Record = dict[str, Any]


def _about(context: Context, call: Callable[[], _T]) -> _T:
    return for_context(context, call)()


class StreamsApi:
    """App Store Connect over HTTP, through the tap's streams."""

    def __init__(
        self,
        *,
        requests: ReportRequests,
        reports: Reports,
        instances: ReportInstances,
        segments: ReportSegments,
        rows_for: Callable[[str], ReportRows],
    ) -> None:
        """`rows_for(report name)`: the rows stream that reads the report's files."""
        self._requests = requests
        self._reports = reports
        self._instances = instances
        self._segments = segments
        self._rows_for = rows_for

    def list_requests(self, app_id: str) -> list[Record]:
        """The app's report requests (the top stream's errors name its path alone)."""
        return self._requests.list_requests(app_id)

    def create_request(self, app_id: str, access_type: str) -> Creation:
        """POST a report request: what Apple answered."""
        return self._requests.create_request(app_id, access_type)

    def list_reports(self, app_id: str, request_id: str) -> list[Record]:
        """A request's reports."""
        return _about({"app_id": app_id}, lambda: self._reports.list_reports(app_id, request_id))

    def list_instances(self, partition: Context, report_id: str) -> list[Record]:
        """A report's instances of the partition's granularity."""
        return _about(partition, lambda: self._instances.list_instances(partition, report_id))

    def list_segments(self, instance: Context) -> list[Record]:
        """An instance's segments."""
        return _about(instance, lambda: self._segments.list_segments(instance))

    def download(self, file: Context, listed: SegmentFile | None) -> tuple[Path, int]:
        """A segment's file, by the rows stream of its report (a fresh URL when none is
        listed)."""
        rows = self._rows_for(file["report_name"])

        def download() -> tuple[Path, int]:
            return rows.download(file, listed or rows.fresh_file(file))

        return _about(file, download)
