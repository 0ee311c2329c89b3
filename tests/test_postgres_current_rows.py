"""End to end: App Store history from a snapshot, daily restatements that drop rows, and BATCH
messages, through Meltano and target-postgres into PostgreSQL, then dbt (Meltano's dbt-postgres
utility running transform/). The current rows, read through the views dbt made, equal the
fake's truth exactly; reports the load did not create get no view, and dbt does not fail."""

# SQL here is built from this module's constants and the views' names, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from segment_analytics_sandbox.demo import landed
from segment_analytics_sandbox.environment import APP_IDS, start_sandbox
from tests.meltano_pipeline import Pipeline, meltano_pipeline, ok
from tests.warehouse import Warehouse, appstore_differences

pytestmark = pytest.mark.e2e

SCHEMA = "history"
HISTORY_DAYS = 45  # more than Apple's 35 days of instances
# A typed report and one the generic stream holds; App Store streams only.
REPORTS = ["App Crashes", "App Store Web Previews"]
# Their tables: every other report's model finds no table and makes no view.
ROWS_TABLES = ["appstore_app_crashes", "appstore_report_rows"]


@pytest.fixture(scope="module")
def history() -> Iterator[Pipeline]:
    """The sandbox with restatements that drop rows and a ready 60-day snapshot per app."""
    sandbox = start_sandbox(drop_share=0.3)
    for app_id in APP_IDS:
        sandbox.appstore.add_snapshot(app_id)
        sandbox.appstore.publish_snapshot(app_id, history_days=HISTORY_DAYS)
    with meltano_pipeline(sandbox) as pipeline:
        yield pipeline


def settings(pipeline: Pipeline, *, backfill: bool) -> dict[str, str]:
    """Backfill on or off, and BATCH messages (the settings README recommends for big reports,
    as environment variables; their files in the pipeline's scratch folder)."""
    return {
        "TAP_SEGMENT_ANALYTICS__SELECT": json.dumps(["appstore_*.*"]),
        "TAP_SEGMENT_ANALYTICS_APPSTORE_REPORT_NAMES": json.dumps(REPORTS),
        "TAP_SEGMENT_ANALYTICS_APPSTORE_BACKFILL": str(backfill).lower(),
        "TAP_SEGMENT_ANALYTICS_BATCH_CONFIG_ENCODING_FORMAT": "jsonl",
        "TAP_SEGMENT_ANALYTICS_BATCH_CONFIG_ENCODING_COMPRESSION": "gzip",
        "TAP_SEGMENT_ANALYTICS_BATCH_CONFIG_STORAGE_ROOT": (pipeline.scratch / "batches").as_uri(),
        "TAP_SEGMENT_ANALYTICS_START_DATE": (
            pipeline.sandbox.today - timedelta(days=HISTORY_DAYS + 30)
        ).isoformat(),
    }


def current_rows(pipeline: Pipeline, schema: str) -> Warehouse:
    """Every current-rows view dbt made (`<table>_current`), as a warehouse of records by row
    key."""
    views = landed(pipeline.pg, schema, views=True)
    assert set(views) == {f"{table}_current" for table in ROWS_TABLES}
    warehouse = Warehouse()
    for view in views:
        table = view.removesuffix("_current")
        for (row,) in pipeline.pg.query(f"select row_to_json(v) from {schema}.{view} v"):
            record = json.loads(row)
            warehouse.tables.setdefault(table, {})[(record["row_key"],)] = record
    return warehouse


def batch_folders(pipeline: Pipeline) -> set[str]:
    root = pipeline.scratch / "batches"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def test_backfill_and_daily_restatements_land_exactly_the_current_rows(history: Pipeline) -> None:
    appstore = history.sandbox.appstore
    env = settings(history, backfill=True)
    ok(history.meltano_run(schema=SCHEMA, state_db="history", extra_env=env))
    first_run_folders = batch_folders(history)
    for days in (0, 1):
        appstore.publish_day(
            app_ids=list(APP_IDS),
            processing=history.sandbox.today + timedelta(days=days),
            drop_share=0.5,
        )
        # dbt only after the last load: the views read the tables as they are when queried.
        ok(
            history.meltano_run(
                schema=SCHEMA, state_db="history", extra_env=env, transform=days == 1
            )
        )

    differences = appstore_differences(
        current_rows(history, SCHEMA), appstore, APP_IDS, reports=REPORTS
    )
    assert not differences, differences
    oldest = history.pg.query(f"select min(date) from {SCHEMA}.appstore_app_crashes_current")
    assert oldest == [((history.sandbox.today - timedelta(days=HISTORY_DAYS)).isoformat(),)]
    # The table itself keeps rows a restatement dropped: only the view is exact.
    (table_rows,) = history.pg.query(f"select count(*) from {SCHEMA}.appstore_app_crashes")
    (view_rows,) = history.pg.query(f"select count(*) from {SCHEMA}.appstore_app_crashes_current")
    assert int(table_rows[0]) > int(view_rows[0])
    # BATCH files: each run deletes the folders of the runs before it.
    assert len(first_run_folders) == 1
    assert len(batch_folders(history)) == 1
    assert batch_folders(history) != first_run_folders


def test_a_second_backfill_run_reads_nothing_again(history: Pipeline) -> None:
    history.clear_logs()

    ok(
        history.meltano_run(
            schema=SCHEMA, state_db="history", extra_env=settings(history, backfill=True)
        )
    )

    appstore = history.sandbox.appstore
    assert history.sandbox.s3.requests == [], "nothing new to download"
    reports_listed = [r for r in appstore.requests if r.path.endswith("/reports")]
    assert len(reports_listed) == len(APP_IDS), "the snapshots' reports are not listed again"


def test_a_run_with_backfill_off_never_touches_snapshot_requests(history: Pipeline) -> None:
    history.clear_logs()

    ok(
        history.meltano_run(
            schema="no_backfill",
            state_db="no_backfill",
            extra_env=settings(history, backfill=False),
        )
    )

    appstore = history.sandbox.appstore
    listings = [r for r in appstore.requests if r.path.endswith("/analyticsReportRequests")]
    assert {r.query.get("filter[accessType]") for r in listings} == {"ONGOING"}
    reports_listed = [r for r in appstore.requests if r.path.endswith("/reports")]
    assert len(reports_listed) == len(APP_IDS), "only the ONGOING requests' reports"
    downloaded = [r.path for r in history.sandbox.s3.requests]
    assert downloaded
    assert not [path for path in downloaded if "/ONE_TIME_SNAPSHOT/" in path]
