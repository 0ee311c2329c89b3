"""End to end: real Meltano runs the tap against the sandbox into real PostgreSQL.

Meltano 4.4 with MeltanoLabs target-postgres (installed once per module by `meltano install`
into a temporary MELTANO_SYS_DIR_ROOT) and an EmbeddedPostgres. State is Meltano's own
(a temporary system database per scenario); nothing passes a state file by hand.
"""

# SQL here is built from this module's constants and the sandbox's ids, never from input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import yaml

from segment_analytics_sandbox.demo import TARGET_SCHEMA
from segment_analytics_sandbox.environment import APP_IDS, start_sandbox
from tests.meltano_pipeline import (
    PROJECT_ROOT,
    Pipeline,
    bookmarked,
    meltano_pipeline,
    ok,
    tracked_segment_ids,
)
from tests.promised_streams import STREAM_KEYS
from tests.row_keys import row_key

pytestmark = pytest.mark.e2e

DATA_SERIES = "/segments/data_series"
RESTATED_REPORT = "App Downloads Standard"
RESTATED_TABLE = "appstore_app_downloads_standard"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """Sandbox (real UTC today, as the tap uses the real clock) + PostgreSQL + installed plugins,
    after one first `meltano run` into TARGET_SCHEMA."""
    with meltano_pipeline(start_sandbox()) as setup:
        ok(setup.meltano_run())
        setup.first_run_counts = setup.counts()
        yield setup


def test_first_run_lands_every_stream_with_its_primary_key(pipeline: Pipeline) -> None:
    counts = pipeline.first_run_counts
    assert set(counts) == set(STREAM_KEYS)
    assert {table for table, rows in counts.items() if rows == 0} == set()

    keys = pipeline.pg.query(
        "select tc.table_name, kcu.column_name "
        "from information_schema.table_constraints tc "
        "join information_schema.key_column_usage kcu "
        "  on kcu.constraint_schema = tc.constraint_schema "
        " and kcu.constraint_name = tc.constraint_name "
        f"where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = '{TARGET_SCHEMA}' "
        "order by tc.table_name, kcu.ordinal_position"
    )
    primary_keys: dict[str, list[str]] = {}
    for table, column in keys:
        primary_keys.setdefault(table, []).append(column)
    assert primary_keys == STREAM_KEYS

    # What landed is the sources' truth, once per key.
    appstore = pipeline.sandbox.appstore
    expected_rows = sum(len(appstore.truth(app, RESTATED_REPORT, "DAILY")) for app in APP_IDS)
    assert counts[RESTATED_TABLE] == expected_rows
    braze = pipeline.sandbox.braze
    sizes = pipeline.pg.query(
        f"select segment_id, time::date, size from {TARGET_SCHEMA}.braze_segment_sizes"
    )
    assert sizes
    assert all(
        int(size) == braze.size_for(sid, date.fromisoformat(day)) for sid, day, size in sizes
    )
    assert {sid for sid, _, _ in sizes} == set(tracked_segment_ids(pipeline.sandbox))


def test_second_run_same_day_asks_only_for_lookback_days_and_downloads_nothing(
    pipeline: Pipeline,
) -> None:
    before = pipeline.counts()
    pipeline.clear_logs()

    ok(pipeline.meltano_run())

    assert pipeline.counts() == before
    today = pipeline.sandbox.today
    calls = pipeline.sandbox.braze.data_series_calls()
    tracked = tracked_segment_ids(pipeline.sandbox)
    assert sorted(call for call in calls if call[0] in tracked) == sorted(
        (sid, 5, f"{today.isoformat()}T00:00:00Z") for sid in tracked
    )
    # A segment whose series Braze refused is asked again, from start_date: nothing lost.
    listed = {s.id for s in pipeline.sandbox.braze.segments if not s.archived}
    assert {sid for sid, _, _ in calls} == listed
    assert pipeline.sandbox.s3.requests == []

    bookmarks = pipeline.state()["singer_state"]["bookmarks"]
    yesterday = (today - timedelta(days=1)).isoformat()
    assert bookmarked(bookmarks, "braze_segment_sizes") == {
        (("segment_id", sid),): yesterday for sid in tracked_segment_ids(pipeline.sandbox)
    }
    instances = bookmarked(bookmarks, "appstore_report_instances")
    assert len(instances) == pipeline.first_run_counts["appstore_reports"]  # x DAILY
    assert set(instances.values()) == {yesterday}  # the newest sample instance


def test_restated_braze_size_and_appstore_row_replace_the_old_values(pipeline: Pipeline) -> None:
    sandbox = pipeline.sandbox
    today = sandbox.today
    segment_id = tracked_segment_ids(sandbox)[0]
    restated_day = today - timedelta(days=2)
    sandbox.braze.restate(segment_id, restated_day, 4242)
    app_id = APP_IDS[0]
    old_row = sandbox.appstore.truth(app_id, RESTATED_REPORT, "DAILY")[0]
    new_row = {**old_row, "Counts": str(int(old_row["Counts"]) + 9000)}
    sandbox.appstore.add_instance(app_id, RESTATED_REPORT, "DAILY", today, [[new_row]])
    key = row_key(app_id=app_id, report_name=RESTATED_REPORT, granularity="DAILY", row=new_row)
    before = pipeline.counts()
    pipeline.clear_logs()

    ok(pipeline.meltano_run())

    # One new instance with one segment; the data tables keep their row counts.
    assert pipeline.counts() == {
        **before,
        "appstore_report_instances": before["appstore_report_instances"] + 1,
        "appstore_report_segments": before["appstore_report_segments"] + 1,
    }
    assert pipeline.pg.query(
        f"select size from {TARGET_SCHEMA}.braze_segment_sizes "
        f"where segment_id = '{segment_id}' and time::date = '{restated_day}'"
    ) == [("4242",)]
    assert pipeline.pg.query(
        f"select counts::bigint, processing_date::date from {TARGET_SCHEMA}.{RESTATED_TABLE} "
        f"where row_key = '{key}'"
    ) == [(new_row["Counts"], today.isoformat())]
    assert len(sandbox.s3.requests) == 1  # only the new instance's file


def test_rows_of_incremental_streams_survive_a_loader_that_acts_on_activate_version(
    pipeline: Pipeline,
) -> None:
    """Three runs in, where the incremental streams and their children sent only what was new,
    every row is still live: the tap sends no ACTIVATE_VERSION for the loader to act on."""
    project = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (loader,) = project["plugins"]["loaders"]
    acts_on_it = {s["name"]: s.get("value") for s in loader["settings"]}
    assert acts_on_it["activate_version"] is True  # soft delete: sets _sdc_deleted_at
    assert acts_on_it["add_record_metadata"] is True

    counts = pipeline.counts()
    deleted = {
        table: int(n)
        for table, n in pipeline.pg.query(
            " union all ".join(
                f"select '{table}', count(*) from {TARGET_SCHEMA}.{table} "
                "where _sdc_deleted_at is not null"
                for table in counts
            )
        )
    }

    assert deleted == dict.fromkeys(STREAM_KEYS, 0)
    assert all(counts[table] >= rows for table, rows in pipeline.first_run_counts.items())


def test_interrupted_run_then_normal_run_equals_the_uninterrupted_runs(pipeline: Pipeline) -> None:
    braze = pipeline.sandbox.braze
    # Two tries, a short wait between them; one request at a time, so the failure falls
    # mid-way through the third segment.
    fast_fail = {
        "TAP_SEGMENT_ANALYTICS_REQUEST_MAX_TRIES": "2",
        "TAP_SEGMENT_ANALYTICS_REQUEST_BACKOFF_SECONDS": "0.05",
        "TAP_SEGMENT_ANALYTICS_BRAZE_CONCURRENCY": "1",
    }
    # Each tracked segment's first run takes two data_series windows: let 2.5 segments through.
    braze.inject(503, times=None, path=DATA_SERIES, after=5)
    pipeline.clear_logs()
    failed = pipeline.meltano_run(schema="resumed", state_db="resumed", extra_env=fast_fail)
    braze.clear_faults()
    assert failed.returncode != 0
    assert any(r.status == 503 for r in braze.requests_to(DATA_SERIES))
    assert pipeline.counts("resumed").get("braze_segment_sizes", 0) > 0  # it stopped midway
    kept = bookmarked(
        pipeline.state(state_db="resumed")["singer_state"]["bookmarks"], "braze_segment_sizes"
    )
    finished = {dict(context)["segment_id"] for context in kept}
    assert 0 < len(finished) < len(tracked_segment_ids(pipeline.sandbox))

    pipeline.clear_logs()
    ok(pipeline.meltano_run(schema="resumed", state_db="resumed", extra_env=fast_fail))
    # The resumed run read the finished segments from their bookmarks only.
    resumed_calls = braze.data_series_calls()
    assert {length for sid, length, _ in resumed_calls if sid in finished} == {5}

    # The same rows as the runs before it here, none of them interrupted (on the same sources).
    assert pipeline.counts("resumed") == pipeline.counts(TARGET_SCHEMA)
    for table, columns in (
        ("braze_segment_sizes", "segment_id, time::date, size"),
        (RESTATED_TABLE, "row_key, counts::bigint"),
    ):
        resumed, uninterrupted = (
            set(pipeline.pg.query(f"select {columns} from {schema}.{table}"))
            for schema in ("resumed", TARGET_SCHEMA)
        )
        assert resumed == uninterrupted, table
