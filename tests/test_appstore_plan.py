"""The App Store plan alone: what a run reads, in which order, and where its bookmarks move,
decided with a fake API (no HTTP, no SDK)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.api.values import Creation, SegmentFile
from tap_segment_analytics.appstore.fetch.app_fetch import InlineFetch
from tap_segment_analytics.appstore.plan.app_plan import AppStorePlan, Loggers, Settings
from tap_segment_analytics.errors import SourceError

APP = "app1"
TODAY = date(2026, 3, 10)
Record = dict[str, Any]


class FakeApi:
    """App Store Connect as a few dicts; every call is logged."""

    def __init__(self) -> None:
        self.requests: list[Record] = [{"id": "r1", "access_type": "ONGOING"}]
        self.reports: dict[str, list[Record]] = {
            "r1": [
                {"id": "rep-a", "name": "App Crashes", "category": "APP_USAGE"},
                {"id": "rep-b", "name": "App Downloads Standard", "category": "COMMERCE"},
            ]
        }
        self.instances: dict[str, list[Record]] = {
            "rep-a": [
                {"id": "i2", "processing_date": "2026-03-08"},
                {"id": "i1", "processing_date": "2026-03-07"},
                {"id": "i3", "processing_date": "2026-03-09"},
            ],
            "rep-b": [{"id": "i9", "processing_date": "2026-03-09"}],
        }
        self.calls: list[tuple[Any, ...]] = []

    def list_requests(self, app_id: str) -> list[Record]:
        self.calls.append(("requests", app_id))
        return [dict(r) for r in self.requests]

    def create_request(self, app_id: str, access_type: str) -> Creation:
        self.calls.append(("create", app_id, access_type))
        self.requests.append({"id": f"new-{access_type}", "access_type": access_type})
        return Creation("201", created=True)

    def list_reports(self, app_id: str, request_id: str) -> list[Record]:
        self.calls.append(("reports", request_id))
        return [dict(r) for r in self.reports.get(request_id, [])]

    def list_instances(self, partition: Record, report_id: str) -> list[Record]:
        self.calls.append(("instances", report_id, partition["granularity"]))
        return [dict(i) for i in self.instances.get(report_id, [])]

    def list_segments(self, instance: Record) -> list[Record]:
        self.calls.append(("segments", instance["instance_id"]))
        url = f"https://files.example/{instance['instance_id']}"
        return [{"id": f"s-{instance['instance_id']}", "_file": SegmentFile(url, "", None, 0.0)}]


class FakeDownloads:
    """Downloads that only log what they were asked for, in the API's log."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def download(self, file: Record, listed: SegmentFile | None) -> tuple[Path, int]:
        self.api.calls.append(("download", file["segment_id"], listed.url if listed else None))
        return Path("/dev/null"), 0


class Bookmarks:
    """The instances stream's state, as the SDK keeps it."""

    def __init__(self, partitions: list[Record] | None = None) -> None:
        self.stream: dict[str, Any] = {"partitions": partitions or []}

    def state(self, partition: Record) -> dict[str, Any]:
        for existing in self.stream["partitions"]:
            if existing["context"] == partition:
                found: dict[str, Any] = existing
                return found
        self.stream["partitions"].append({"context": dict(partition)})
        made: dict[str, Any] = self.stream["partitions"][-1]
        return made

    def stream_state(self) -> dict[str, Any]:
        return self.stream


def make_plan(api: FakeApi, bookmarks: Bookmarks | None = None, **settings: Any) -> AppStorePlan:
    logger = logging.getLogger("test-plan")
    return AppStorePlan(
        Settings(start_date=date(2026, 1, 1), **settings),
        api=api,
        bookmarks=bookmarks or Bookmarks(),
        loggers=Loggers(logger, logger, logger),
        rows_selected=lambda name: True,
        count_dates=True,
        today=lambda: TODAY,
    )


def test_an_app_is_read_requests_then_reports_then_one_partition_per_report_and_granularity() -> (
    None
):
    api = FakeApi()
    app = make_plan(api, granularities=("DAILY", "WEEKLY")).app(APP)

    assert [r["id"] for r in app.list_requests()] == ["r1"]
    reports = app.list_reports()

    assert [r["id"] for r in reports] == ["rep-a", "rep-b"]
    assert reports[0]["request_id"] == "r1"
    assert reports[0]["access_type"] == "ONGOING"
    assert [p.key for p in app.partitions] == [
        (APP, "App Crashes", "DAILY"),
        (APP, "App Crashes", "WEEKLY"),
        (APP, "App Downloads Standard", "DAILY"),
        (APP, "App Downloads Standard", "WEEKLY"),
    ]
    assert api.calls == [("requests", APP), ("reports", "r1")]


def test_a_partition_applies_the_instances_after_its_bookmark_oldest_first() -> None:
    api = FakeApi()
    bookmarks = Bookmarks(
        [
            {
                "context": {"app_id": APP, "report_name": "App Crashes", "granularity": "DAILY"},
                "position": ["2026-03-07", 1, "i1"],
            }
        ]
    )
    app = make_plan(api, bookmarks).app(APP)
    app.list_requests()
    app.list_reports()
    partition = app.partition({"report_name": "App Crashes", "granularity": "DAILY"})

    instances = partition.begin(partition.list_instances(), TODAY)

    assert [i["id"] for i in instances] == ["i2", "i3"]
    partition.applied(instances[0])
    assert partition.state["position"] == ["2026-03-08", 1, "i2"]
    assert partition.state["replication_key_value"] == "2026-03-08"
    assert not partition.finished(), "no backfill: nothing more to note"


def test_a_configured_report_the_api_does_not_list_is_an_error() -> None:
    app = make_plan(FakeApi(), report_names=("App Sessions",)).app(APP)
    app.list_requests()

    with pytest.raises(SourceError, match="'App Sessions' not listed for app app1"):
        app.list_reports()


def test_a_missing_ongoing_request_is_created_when_allowed_and_the_requests_listed_again() -> None:
    api = FakeApi()
    api.requests = []
    app = make_plan(api, create_requests=True).app(APP)

    assert [r["id"] for r in app.list_requests()] == ["new-ONGOING"]
    assert api.calls == [("requests", APP), ("create", APP, "ONGOING"), ("requests", APP)]


def test_a_listed_url_goes_to_one_download_and_a_finished_app_is_forgotten() -> None:
    api = FakeApi()
    plan = make_plan(api)
    app = plan.app(APP)
    app.list_requests()
    app.list_reports()
    fetch = InlineFetch(app, FakeDownloads(api))  # type: ignore[arg-type]
    instance = {"app_id": APP, "instance_id": "i1", "report_name": "App Crashes"}
    (segment,) = fetch.segments(instance)
    file = {**instance, "segment_id": segment["id"]}

    fetch.file(file)
    fetch.file(file)  # again: the listed URL was used, a fresh one is asked for
    app.row_dates("i1")

    assert api.calls[-2:] == [
        ("download", "s-i1", "https://files.example/i1"),
        ("download", "s-i1", None),
    ]
    plan.finish(APP)
    assert (app.requests, app.named, app.partitions) == ([], {}, [])
    assert plan.app(APP) is not app


def test_a_backfill_notes_the_snapshots_it_read_once_every_instance_is_applied() -> None:
    api = FakeApi()
    api.requests.append({"id": "snap", "access_type": "ONE_TIME_SNAPSHOT"})
    api.reports["snap"] = [{"id": "rep-a-snap", "name": "App Crashes", "category": "APP_USAGE"}]
    api.instances["rep-a-snap"] = [{"id": "old", "processing_date": "2026-02-01"}]
    app = make_plan(api, backfill=True, report_names=("App Crashes",)).app(APP)
    app.list_requests()
    app.list_reports()
    (partition,) = app.partitions

    instances = partition.begin(partition.list_instances(), TODAY)
    assert [i["id"] for i in instances] == ["old", "i1", "i2", "i3"]
    assert partition.state["backfill"]["requests"] == ["snap"]
    for instance in instances:
        partition.applied(instance)

    assert partition.finished()
    assert partition.state["snapshots_read"] == ["snap"]
    assert "backfill" not in partition.state
