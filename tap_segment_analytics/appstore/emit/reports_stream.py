"""The wanted reports of each app's requests (which ones: plan/app_plan.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.emit.base import AppStoreStream
from tap_segment_analytics.appstore.emit.requests_stream import ReportRequests


class Reports(AppStoreStream):
    """The reports of each app's requests, narrowed to the configured names and categories."""

    name = "appstore_reports"
    primary_keys = ("id",)
    parent_stream_type = ReportRequests
    state_partitioning_keys: tuple[str, ...] = ()

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's wanted reports, as the plan lists them; once listed, the app's partitions
        are known and its fetch starts."""
        reports = self.runtime.plan.app(context["app_id"]).list_reports()
        self.runtime.fetch(context["app_id"])
        yield from reports

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """The partitions the report opens (plan/app_plan.py: one per granularity, on the
        first report of its name)."""
        yield from self.runtime.plan.app(record["app_id"]).partitions_of(record)
