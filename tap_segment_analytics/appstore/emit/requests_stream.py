"""Each app's analytics report requests: the top of the App Store traversal, one partition per
app. What a run does with them (create one, warn) is the plan's (plan/app_plan.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.emit.base import AppStoreStream


class ReportRequests(AppStoreStream):
    """Each app's analytics report requests."""

    name = "appstore_report_requests"
    primary_keys = ("id",)
    state_partitioning_keys: tuple[str, ...] = ()

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured app."""
        return [{"app_id": str(app_id)} for app_id in self.config["appstore_app_ids"]]

    @override
    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the app id."""
        return {**row, "app_id": context["app_id"]}

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's requests as the plan lists them; once they (and everything under them)
        are out, what the run held for the app is dropped."""
        try:
            yield from self.runtime.plan.app(context["app_id"]).list_requests()
        finally:
            self.runtime.finish(context["app_id"])
            self.runtime.progress.forget()

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per app, on its first request: the reports of every request of the
        app are read at once, so that a report's instances can be ordered across requests."""
        if self.runtime.plan.app(record["app_id"]).is_first_request(record):
            yield {"app_id": record["app_id"]}
