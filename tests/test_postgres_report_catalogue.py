"""End to end: reports the tap 0.x keyed wrong (App Crashes Expanded, App Store Purchases and two
Framework Usage reports) land typed through Meltano and target-postgres, and after three daily
runs whose instances restate each Date over the report's completeness window, the tables equal
the fake's truth exactly: no restated value is a second row."""

# SQL here is built from this module's constants, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from segment_analytics_sandbox.environment import APP_IDS, start_sandbox
from tap_segment_analytics.appstore.reports import report_named
from tests.meltano_pipeline import Pipeline, meltano_pipeline, ok
from tests.warehouse import Warehouse, appstore_differences

pytestmark = pytest.mark.e2e

SCHEMA = "catalogue"
REPORTS = [
    "App Crashes Expanded",
    "App Store Purchases Standard",
    "Home Screen Widget Installs",
    "Photos Picker",
]
# Postgres column types of a few measures: integers stay integers, money is numeric.
TYPED = {
    ("appstore_app_crashes_expanded", "count"): "bigint",
    ("appstore_app_store_purchases_standard", "purchases"): "bigint",
    ("appstore_app_store_purchases_standard", "proceeds_in_usd"): "numeric",
    ("appstore_photos_picker", "unique_devices"): "bigint",
    ("appstore_home_screen_widget_installs", "date"): "date",
}


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """The sandbox (every report restated over its completeness window) and Meltano."""
    with meltano_pipeline(start_sandbox()) as pipeline:
        yield pipeline


def tables(pipeline: Pipeline) -> Warehouse:
    """The report tables' rows by row key."""
    warehouse = Warehouse()
    for report in REPORTS:
        catalogued = report_named(report)
        assert catalogued is not None
        table = catalogued.stream
        for (row,) in pipeline.pg.query(f"select row_to_json(t) from {SCHEMA}.{table} t"):
            record = json.loads(row)
            warehouse.tables.setdefault(table, {})[(record["row_key"],)] = record
    return warehouse


def test_three_daily_runs_with_restatements_land_exactly_the_truth(pipeline: Pipeline) -> None:
    appstore = pipeline.sandbox.appstore
    env = {
        "TAP_SEGMENT_ANALYTICS__SELECT": json.dumps(["appstore_*.*"]),
        "TAP_SEGMENT_ANALYTICS_APPSTORE_REPORT_NAMES": json.dumps(REPORTS),
    }
    ok(pipeline.meltano_run(schema=SCHEMA, state_db=SCHEMA, extra_env=env))
    for days in (0, 1):
        appstore.publish_day(
            app_ids=list(APP_IDS), processing=pipeline.sandbox.today + timedelta(days=days)
        )
        ok(pipeline.meltano_run(schema=SCHEMA, state_db=SCHEMA, extra_env=env))

    differences = appstore_differences(tables(pipeline), appstore, APP_IDS, reports=REPORTS)
    assert not differences, differences
    columns = {
        (table, column): kind
        for table, column, kind in pipeline.pg.query(
            "select table_name, column_name, data_type from information_schema.columns "
            f"where table_schema = '{SCHEMA}'"
        )
    }
    for (table, column), kind in TYPED.items():
        assert columns[table, column].startswith(kind), (table, column, columns[table, column])
