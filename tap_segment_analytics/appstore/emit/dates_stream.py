"""For each app, report, granularity and Date: the newest instance that had rows of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.emit.base import AppStoreStream
from tap_segment_analytics.appstore.emit.instances_stream import ReportInstances
from tap_segment_analytics.appstore.reports import complete_from, rows_stream_name


class ReportDates(AppStoreStream):
    """For each app, report, granularity and Date: the newest instance that had rows of it.

    A newer instance is the whole truth for the Dates it restates, and Apple's noise and
    thresholds can leave a dimension combination out of it: upserts alone would keep the older
    row for ever. Instances are applied oldest first, so upserted by its key this stream names,
    for each Date, the instance whose rows are current; a view joining the rows on `instance_id`
    and `date` returns exactly Apple's newest data (README, "Current rows").
    """

    name = "appstore_report_dates"
    primary_keys = ("app_id", "report_name", "granularity", "date")
    parent_stream_type = ReportInstances
    state_partitioning_keys: tuple[str, ...] = ()

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """One record per Date of the instance, once all of its rows are out (the rows
        streams count them in the app's plan; ReportInstances syncs this stream after the
        instance's segments)."""
        counts = self.runtime.plan.app(context["app_id"]).take_row_dates(context["instance_id"])
        for day, rows in sorted(counts.items(), key=lambda item: str(item[0])):
            if day is None:
                continue
            complete = complete_from(context["report_name"], context["granularity"], day)
            yield {
                "app_id": context["app_id"],
                "report_name": context["report_name"],
                "granularity": context["granularity"],
                "date": day,
                "instance_id": context["instance_id"],
                "processing_date": context["processing_date"],
                "rows": rows,
                "rows_stream": rows_stream_name(context["report_name"]),
                "expected_complete": complete,
                "final": None if complete is None else context["processing_date"] >= complete,
            }
