"""Each app's analytics report requests: the top of the App Store traversal, one partition per
app. What a run does with them (create one, warn) is the plan's (plan.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import requests
from typing_extensions import override

from tap_segment_analytics.appstore.api.answers import AppleRefusal, AppStoreStream
from tap_segment_analytics.appstore.plan.instance_plan import ONGOING

# The 409 codes that mean "such a report request exists already". STATE_ERROR ("You already
# have such an entity") is what an App Store Connect engineer shows for a second
# ONE_TIME_SNAPSHOT (Apple forum thread 759773); for a second ONGOING request no Apple page
# names the code, and DUPLICATE is the one Apple's API gives for an attribute value already
# used (unconfirmed). Either way the plan then confirms the request is listed.
EXISTS_CODES = frozenset({"STATE_ERROR", "ENTITY_ERROR.ATTRIBUTE.INVALID.DUPLICATE"})


@dataclass(frozen=True)
class Creation:
    """What Apple answered to creating a report request: its status and `CODE: detail`."""

    answer: str
    created: bool = False
    exists: bool = False


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

    def create_request(self, app_id: str, access_type: str) -> Creation:
        """POST a request: what Apple answered. A 409 whose code means "such a request exists"
        is no error; any other refusal about the app (409, 422, 404) is told to the plan, which
        warns and goes on with the other apps; 401 and 403 (the key or its role) stop the run."""
        body = {
            "data": {
                "type": "analyticsReportRequests",
                "attributes": {"accessType": access_type},
                "relationships": {"app": {"data": {"type": "apps", "id": app_id}}},
            }
        }

        def send(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            response = self.requests_session.send(prepared, timeout=self.timeout)
            self.validate_response(response)
            return response

        prepared = self.build_prepared_request(
            method="POST", url=f"{self.url_base}/v1/analyticsReportRequests", json=body
        )
        try:
            self.request_decorator(send)(prepared, None)
        except AppleRefusal as refusal:
            if refusal.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise
            answer = f"{refusal.status} {refusal.explained()}"
            if refusal.status == HTTPStatus.CONFLICT and refusal.codes & EXISTS_CODES:
                return Creation(answer, exists=True)
            return Creation(answer)
        return Creation("201", created=True)

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per app, on its first request: the reports of every request of the
        app are read at once, so that a report's instances can be ordered across requests."""
        if self.runtime.plan.app(record["app_id"]).is_first_request(record):
            yield {"app_id": record["app_id"]}
