"""The wanted reports of each app's requests (which ones: plan.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.api.answers import AppStoreStream
from tap_segment_analytics.appstore.emit.requests_stream import ReportRequests


class Reports(AppStoreStream):
    """The reports of each app's requests, narrowed to the configured names and categories."""

    name = "appstore_reports"
    path = "/v1/analyticsReportRequests/{request_id}/reports"
    primary_keys = ("id",)
    parent_stream_type = ReportRequests
    state_partitioning_keys: tuple[str, ...] = ()

    def list_reports(self, app_id: str, request_id: str) -> list[dict[str, Any]]:
        """GET a request's reports."""
        return list(self.request_records({"app_id": app_id, "request_id": request_id}))

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's wanted reports, as the plan lists them."""
        yield from self.runtime.plan.app(context["app_id"]).list_reports()

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """The partitions the report opens (plan.py: one per granularity, on the first report
        of its name)."""
        yield from self.runtime.plan.app(record["app_id"]).partitions_of(record)
