"""App Store history beyond 35 days (a ONE_TIME_SNAPSHOT backfill) and rows a restatement drops.

The fake's truth is, for each Date, the rows of the newest instance that has that Date, across
the app's ONGOING and snapshot requests. The warehouse is emulated by upserting records by key;
its current rows are those README's view returns (joined with appstore_report_dates).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.campaign import MOST_FILES_PER_INSTANCE, READ_AHEAD_FILES, run_cli
from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.tap_runner import TapRun, run_tap
from tests.warehouse import Warehouse, appstore_differences

HISTORY_DAYS = 60
REPORTS = ["App Crashes", "App Downloads Standard"]


def history_store(start_appstore: StartAppStore, *, drop_share: float = 0.3) -> AppStore:
    """One app, 8 days of ONGOING instances that drop rows when they restate a Date."""
    store = start_appstore()
    store.api.populate_sample(
        app_ids=[APP_ID], today=utc_today(), days=8, reports=REPORTS, drop_share=drop_share
    )
    return store


def config(store: AppStore, **overrides: Any) -> dict[str, Any]:
    return store.config(
        start_date=(utc_today() - timedelta(days=HISTORY_DAYS + 30)).isoformat(),
        appstore_report_names=REPORTS,
        **overrides,
    )


def landed(*runs: TapRun) -> Warehouse:
    warehouse = Warehouse()
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
        warehouse.load(run.messages)
    return warehouse


def snapshot_downloads(store: AppStore) -> list[str]:
    return [key for key in store.s3.downloads if "/ONE_TIME_SNAPSHOT/" in key]


def test_rows_a_restatement_drops_are_not_current(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)

    warehouse = landed(run_tap(config(store), tmp_path))

    table = appstore_differences(warehouse, store.api, [APP_ID], reports=REPORTS)
    assert table.extra, "the upserted tables keep rows a newer instance dropped"
    assert not table.missing
    assert not table.stale
    current = appstore_differences(
        warehouse, store.api, [APP_ID], current_only=True, reports=REPORTS
    )
    assert not current, current


@pytest.mark.parametrize("dated", ["historical", "creation"])
def test_backfill_lands_history_and_the_newest_processing_date_wins(
    start_appstore: StartAppStore, tmp_path: Path, dated: str
) -> None:
    store = history_store(start_appstore)
    store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS, dated=dated)

    run = run_tap(config(store, appstore_backfill=True), tmp_path)

    warehouse = landed(run)
    assert not appstore_differences(
        warehouse, store.api, [APP_ID], current_only=True, reports=REPORTS
    )
    oldest = min(r["date"] for r in run.records("appstore_app_crashes"))
    assert oldest == (utc_today() - timedelta(days=HISTORY_DAYS)).isoformat()
    assert "appstore_backfill: app 1234567890 report 'App Crashes' (DAILY): applying" in run.stderr


def test_a_snapshot_read_after_the_ongoing_instances_does_not_overwrite_newer_values(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore, drop_share=0.0)
    first = run_tap(config(store), tmp_path)
    store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)

    later = run_tap(config(store, appstore_backfill=True), tmp_path, state=first.final_state)

    warehouse = landed(first, later)
    assert not appstore_differences(warehouse, store.api, [APP_ID], reports=REPORTS), (
        "no stale row in the tables"
    )
    assert not appstore_differences(
        warehouse, store.api, [APP_ID], current_only=True, reports=REPORTS
    )


def test_a_second_backfill_run_reads_nothing_again(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)
    first = run_tap(config(store, appstore_backfill=True), tmp_path)
    assert snapshot_downloads(store)
    store.api.clear_log()
    store.s3.downloads.clear()

    second = run_tap(config(store, appstore_backfill=True), tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    assert store.s3.downloads == []
    snapshot_id = next(
        r["id"] for r in first.records("appstore_report_requests") if r["access_type"] != "ONGOING"
    )
    snapshot_reports = {
        r["id"] for r in first.records("appstore_reports") if r["request_id"] == snapshot_id
    }
    assert snapshot_reports
    paths = [r.path for r in store.api.requests]
    assert f"/v1/analyticsReportRequests/{snapshot_id}/reports" not in paths
    assert not [p for p in paths if p.split("/")[3:4] and p.split("/")[3] in snapshot_reports]
    assert len(second.records("appstore_report_instances")) == 0


def test_backfill_off_never_touches_snapshot_requests(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    snapshot_id = store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)

    run = run_tap(config(store), tmp_path)

    assert run.returncode == 0, run.stderr
    listings = store.api.requests_to(f"/v1/apps/{APP_ID}/analyticsReportRequests")
    assert {r.query.get("filter[accessType]") for r in listings} == {"ONGOING"}
    assert not store.api.requests_to(f"/v1/analyticsReportRequests/{snapshot_id}")
    assert snapshot_downloads(store) == []
    assert {r["access_type"] for r in run.records("appstore_report_requests")} == {"ONGOING"}


def test_a_snapshot_not_ready_is_an_info_line_and_a_later_run_reads_it(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    store.api.add_snapshot(APP_ID)

    waiting = run_tap(config(store, appstore_backfill=True), tmp_path)

    assert waiting.returncode == 0, waiting.stderr
    (line,) = [line for line in waiting.stderr.splitlines() if "lists no reports yet" in line]
    assert "INFO" in line
    assert not waiting.error_lines()
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)

    ready = run_tap(config(store, appstore_backfill=True), tmp_path, state=waiting.final_state)

    warehouse = landed(waiting, ready)
    assert not appstore_differences(
        warehouse, store.api, [APP_ID], current_only=True, reports=REPORTS
    )


def test_a_snapshot_is_created_when_allowed_and_never_twice_in_31_days(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    settings = {"appstore_backfill": True, "appstore_create_report_requests": True}

    created = run_tap(config(store, **settings), tmp_path)
    again = run_tap(config(store, **settings), tmp_path, state=created.final_state)
    store.api.delete_request(store.api.created_requests[0])
    refused = run_tap(config(store, **settings), tmp_path, state=again.final_state)

    posts = [r.status for r in store.api.requests if r.method == "POST"]
    assert posts == [201, 409], "one POST, none while it exists, a 409 once it was deleted"
    assert "created a ONE_TIME_SNAPSHOT report request for app 1234567890" in created.stderr
    assert "allows one per app every 31 days" in refused.stderr
    assert refused.returncode == 0, refused.stderr


def test_an_app_whose_snapshot_was_read_never_asks_for_another(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    snapshot_id = store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)
    settings = {"appstore_backfill": True, "appstore_create_report_requests": True}
    first = run_tap(config(store, **settings), tmp_path)
    store.api.delete_request(snapshot_id)

    second = run_tap(config(store, **settings), tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    assert [r for r in store.api.requests if r.method == "POST"] == []


def test_a_killed_backfill_resumes_at_the_instance_it_was_in(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = history_store(start_appstore)
    store.api.add_snapshot(APP_ID)
    store.api.publish_snapshot(APP_ID, history_days=HISTORY_DAYS)
    # A STATE after every instance, so that the kill lands after a STATE of the backfill.
    settings = config(store, appstore_backfill=True, state_interval_seconds=0)

    killed = run_cli(settings, tmp_path, kill_after_records=700)
    first_downloads = list(store.s3.downloads)
    resumed = run_cli(settings, tmp_path, state=killed.last_state)

    assert killed.killed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    warehouse = Warehouse()
    warehouse.load(killed.messages + resumed.messages)
    assert not appstore_differences(
        warehouse, store.api, [APP_ID], current_only=True, reports=REPORTS
    )
    again = [k for k in store.s3.downloads[len(first_downloads) :] if k in first_downloads]
    assert len(again) <= MOST_FILES_PER_INSTANCE + READ_AHEAD_FILES, again
