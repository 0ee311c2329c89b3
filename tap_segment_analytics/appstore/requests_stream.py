"""Each app's analytics report requests: the top of the App Store traversal, one partition per
app. What a run does with them (create one, warn) is the plan's (plan.py)."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import requests
from typing_extensions import override

from tap_segment_analytics.appstore.client import AppStoreStream, api_errors
from tap_segment_analytics.appstore.instance_plan import ONGOING


class ReportRequests(AppStoreStream):
    """Each app's analytics report requests."""

    name = "appstore_report_requests"
    path = "/v1/apps/{app_id}/analyticsReportRequests"
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
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """Without a backfill, snapshot requests are none of this run's business."""
        params = super().get_url_params(context, next_page_token)
        if not self.config.get("appstore_backfill"):
            params["filter[accessType]"] = ONGOING
        return params

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's requests as the plan lists them; once they (and everything under them)
        are out, what the run held for the app is dropped."""
        plan = self.runtime.plan
        try:
            yield from plan.app(context["app_id"]).list_requests()
        finally:
            plan.finish(context["app_id"])
            self.runtime.progress.forget()

    def list_requests(self, app_id: str) -> list[dict[str, Any]]:
        """GET the app's requests."""
        return list(self.request_records({"app_id": app_id}))

    def create_request(self, app_id: str, access_type: str) -> None:
        """POST a request; a 409 means one exists already (a race) or, for a snapshot, that
        Apple's one-a-month allowance is spent: either way, the plan lists again."""
        body = {
            "data": {
                "type": "analyticsReportRequests",
                "attributes": {"accessType": access_type},
                "relationships": {"app": {"data": {"type": "apps", "id": app_id}}},
            }
        }

        def send(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            response = self.requests_session.send(prepared, timeout=self.timeout)
            if response.status_code != HTTPStatus.CONFLICT:
                self.validate_response(response)
            return response

        prepared = self.build_prepared_request(
            method="POST", url=f"{self.url_base}/v1/analyticsReportRequests", json=body
        )
        response = self.request_decorator(send)(prepared, None)
        conflict = response.status_code == HTTPStatus.CONFLICT
        if access_type == ONGOING and conflict:
            self.logger.info(
                "appstore: app %s already has an ONGOING report request (409: %s)",
                app_id,
                api_errors(response),
            )
        elif access_type == ONGOING:
            self.logger.warning(
                "appstore: created an ONGOING report request for app %s; Apple makes its first "
                "reports within 24 to 48 hours",
                app_id,
            )
        elif conflict:
            self.logger.warning(
                "appstore_backfill: Apple refused a ONE_TIME_SNAPSHOT request for app %s (409: "
                "%s): it allows one per app every 31 days, deleted ones included; the backfill "
                "waits until one can be made",
                app_id,
                api_errors(response),
            )
        else:
            self.logger.info(
                "appstore_backfill: created a ONE_TIME_SNAPSHOT report request for app %s; "
                "Apple prepares its history within 24 to 48 hours and a later run reads it",
                app_id,
            )

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per app, on its first request: the reports of every request of the
        app are read at once, so that a report's instances can be ordered across requests."""
        if self.runtime.plan.app(record["app_id"]).is_first_request(record):
            yield {"app_id": record["app_id"]}
