"""App Store Connect: the chain down to the rows, restatements, incremental runs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.plan.instance_plan import Position
from tap_segment_analytics.appstore.reports import (
    report_named,
    rows_stream_name,
    snake_case,
)
from tests.conftest import APP_ID, AppStore, utc_today
from tests.fakes import DEFAULT_REPORTS, REPORT_COLUMNS
from tests.row_keys import row_key
from tests.tap_runner import TapRun, run_tap

WEB_PREVIEWS = "App Store Web Previews"


def upserted(run: TapRun, stream: str) -> dict[str, dict[str, Any]]:
    """What a target that upserts by key ends up with: the last record per row_key."""
    return {r["row_key"]: r for r in run.records(stream)}


def test_every_row_lands_and_the_newest_instance_wins(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(), tmp_path)
    assert run.returncode == 0, run.stderr

    for report in (*DEFAULT_REPORTS, WEB_PREVIEWS):
        stream = rows_stream_name(report)
        truth = appstore.api.truth(APP_ID, report, "DAILY")
        assert truth, report
        table = {
            key: record
            for key, record in upserted(run, stream).items()
            if record["granularity"] == "DAILY"
            and (stream != "appstore_report_rows" or record["report_name"] == report)
        }
        expected = {
            row_key(app_id=APP_ID, report_name=report, granularity="DAILY", row=row): row
            for row in truth
        }
        assert set(table) == set(expected), report
        for key, row in expected.items():
            record = table[key]
            if stream == "appstore_report_rows":
                assert record["row"] == {snake_case(c): v for c, v in row.items()}
                continue
            catalogued = report_named(report)
            assert catalogued is not None
            for field in catalogued.measures:
                number = int if field.type == "integer" else float
                assert record[field.column] == number(row[field.name]), (report, field.name)
                assert type(record[field.column]) is number, (report, field.name)
            assert record["date"] == row[catalogued.date_column]


def test_every_file_row_is_emitted_with_its_lineage(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(), tmp_path)

    segments = run.records("appstore_report_segments")
    files = {s["id"]: appstore.api.segment(s["id"]) for s in segments}
    emitted = Counter(
        r["segment_id"]
        for stream in {rows_stream_name(n) for n in (*DEFAULT_REPORTS, WEB_PREVIEWS)}
        for r in run.records(stream)
    )
    assert emitted == {segment_id: len(f.rows) for segment_id, f in files.items()}
    record = run.records("appstore_app_downloads_standard")[0]
    assert {
        "app_id",
        "report_id",
        "granularity",
        "processing_date",
        "instance_id",
        "segment_id",
        "row_key",
    } <= set(record)
    assert record["app_id"] == APP_ID


def test_instances_are_read_oldest_first(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(), tmp_path)

    for report in DEFAULT_REPORTS:
        dates = [
            i["processing_date"]
            for i in run.records("appstore_report_instances")
            if i["report_name"] == report
        ]
        assert dates == sorted(dates)
        assert len(dates) == 4


def test_segment_urls_are_emitted_without_their_signature(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(appstore.config(), tmp_path)

    urls = [s["url"] for s in run.records("appstore_report_segments")]
    assert urls
    assert all(u.startswith(appstore.s3.base_url) and "?" not in u for u in urls)
    assert "X-Amz-Signature=" not in run.stdout + run.stderr.replace(
        "X-Amz-Signature=<redacted>", ""
    )
    assert all(
        s["checksum"] and s["size_in_bytes"] for s in run.records("appstore_report_segments")
    )


def test_downloads_never_carry_the_authorization_header(appstore: AppStore, tmp_path: Path) -> None:
    run_tap(appstore.config(), tmp_path)

    downloads = appstore.s3.requests
    assert downloads
    assert all("authorization" not in r.headers for r in downloads)
    assert {r.status for r in downloads} == {200}


def test_second_run_with_state_downloads_nothing(appstore: AppStore, tmp_path: Path) -> None:
    config = appstore.config()
    first = run_tap(config, tmp_path)
    appstore.api.clear_log()
    appstore.s3.clear_log()

    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    assert appstore.s3.requests == []
    assert appstore.api.requests_to("/v1/analyticsReportSegments/") == []
    assert appstore.api.requests_to("/v1/analyticsReportInstances/") == []
    assert all(not n.startswith("appstore_app") for n in second.record_counts())


def test_a_new_instance_is_the_only_one_read_next_run(appstore: AppStore, tmp_path: Path) -> None:
    config = appstore.config(appstore_report_names=["App Crashes"])
    first = run_tap(config, tmp_path)
    restated_date = (utc_today() - timedelta(days=2)).isoformat()
    old = next(
        r for r in upserted(first, "appstore_app_crashes").values() if r["date"] == restated_date
    )
    row = {
        "Date": restated_date,
        "App Name": "Renamed App",
        "App Apple Identifier": APP_ID,
        "App Version": old["app_version"],
        "Device": old["device"],
        "Platform Version": old["platform_version"],
        "Crashes": "999",
        "Unique Devices": "7",
    }
    appstore.api.add_instance(APP_ID, "App Crashes", "DAILY", utc_today(), [[row]])
    appstore.s3.clear_log()

    second = run_tap(config, tmp_path, state=first.final_state)

    assert len(appstore.s3.requests) == 1
    rows = second.records("appstore_app_crashes")
    assert len(rows) == 1
    assert rows[0]["row_key"] == old["row_key"], "a restated row upserts over the old one"
    assert rows[0]["crashes"] == 999


def test_only_configured_reports_and_granularities_are_read(
    appstore: AppStore, tmp_path: Path
) -> None:
    config = appstore.config(
        appstore_report_names=["App Sessions Standard"], appstore_granularities=["WEEKLY"]
    )

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    assert {r["name"] for r in run.records("appstore_reports")} == {"App Sessions Standard"}
    assert {i["granularity"] for i in run.records("appstore_report_instances")} == {"WEEKLY"}
    rows = run.records("appstore_app_sessions_standard")
    assert rows
    assert {r["granularity"] for r in rows} == {"WEEKLY"}
    assert set(run.record_counts()) <= {
        "appstore_report_requests",
        "appstore_reports",
        "appstore_report_instances",
        "appstore_report_segments",
        "appstore_report_dates",
        "appstore_app_sessions_standard",
    }


def test_unknown_column_is_kept_and_logged_once(
    appstore: AppStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apple adds a column to a report the tap has a schema for.
    columns = [*REPORT_COLUMNS["App Crashes"], "Crash Rate"]
    monkeypatch.setitem(REPORT_COLUMNS, "App Crashes", columns)
    rows = [
        {c: "x" for c in columns}
        | {
            "Date": utc_today().isoformat(),
            "Crashes": str(n),
            "Unique Devices": "1",
            "Crash Rate": f"0.{n}",
            "Device": f"iPhone{n}",
        }
        for n in range(1, 4)
    ]
    appstore.api.add_instance(APP_ID, "App Crashes", "DAILY", utc_today(), [rows])

    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path)

    assert run.returncode == 0, run.stderr
    extras = [r["extra_columns"] for r in run.records("appstore_app_crashes") if r["extra_columns"]]
    assert sorted(e["crash_rate"] for e in extras) == ["0.1", "0.2", "0.3"]
    assert sum("'Crash Rate' is not in the schema" in line for line in run.stderr.splitlines()) == 1


def test_measures_are_numbers_dimensions_strings_dates_dates(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(appstore.config(appstore_report_names=["App Sessions Detailed"]), tmp_path)

    record = run.records("appstore_app_sessions_detailed")[0]
    assert isinstance(record["sessions"], int)
    assert isinstance(record["total_session_duration"], int)
    assert isinstance(record["territory"], str)
    assert len(record["date"]) == 10
    assert record["date"][4] == "-"


def instances_read(run: TapRun, report: str) -> list[str]:
    """Processing dates of the report's DAILY instances the run read, in order."""
    return [
        i["processing_date"]
        for i in run.records("appstore_report_instances")
        if i["report_name"] == report and i["granularity"] == "DAILY"
    ]


def test_bookmark_is_kept_per_app_report_and_granularity_after_each_instance(
    appstore: AppStore, tmp_path: Path
) -> None:
    # With `state_interval_seconds` 0, as earlier releases wrote it.
    settings = appstore.config(appstore_report_names=["App Crashes"], state_interval_seconds=0)
    run = run_tap(settings, tmp_path)

    partition_states = [
        m["value"]["bookmarks"]["appstore_report_instances"]["partitions"]
        for m in run.messages
        if m["type"] == "STATE" and "appstore_report_instances" in m["value"]["bookmarks"]
    ]
    positions = []
    for partitions in partition_states:
        (partition,) = partitions
        assert partition["context"] == {
            "app_id": APP_ID,
            "report_name": "App Crashes",
            "granularity": "DAILY",
        }
        if "position" in partition and partition["position"] not in positions:
            positions.append(partition["position"])
    # One STATE per instance, each right after that instance's rows.
    assert [p[0] for p in positions] == instances_read(run, "App Crashes")
    assert len(positions) == 4


def test_bookmark_is_kept_per_app_report_and_granularity_and_never_ahead_of_the_rows(
    appstore: AppStore, tmp_path: Path
) -> None:
    # On the default clock (sdk/state.py), fewer STATE messages: each covers only instances
    # whose rows and record came before it.
    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path)

    assert run.returncode == 0, run.stderr
    done: list[Position] = []
    positions = []
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == "appstore_report_instances":
            done.append(Position.of(message["record"]))
        if message["type"] != "STATE":
            continue
        state = message["value"]["bookmarks"].get("appstore_report_instances", {})
        for partition in state.get("partitions", []):
            assert partition["context"] == {
                "app_id": APP_ID,
                "report_name": "App Crashes",
                "granularity": "DAILY",
            }
            if "position" in partition:
                position = Position.from_list(partition["position"])
                assert position in done, "a STATE claimed an instance not written yet"
                positions.append(position)
    assert positions, "no STATE named a position"
    assert positions[-1] == max(done)
    assert len(done) == len(instances_read(run, "App Crashes")) == 4


def test_a_state_from_tap_0_1_keyed_by_report_id_is_migrated(
    appstore: AppStore, tmp_path: Path
) -> None:
    report_id = appstore.api.report_id(APP_ID, "App Crashes")
    bookmark = (utc_today() - timedelta(days=2)).isoformat()
    old_state = {
        "bookmarks": {
            "appstore_report_instances": {
                "partitions": [
                    {
                        "context": {"report_id": report_id, "granularity": "DAILY"},
                        "replication_key": "processing_date",
                        "replication_key_value": bookmark,
                    }
                ]
            }
        }
    }

    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path, state=old_state)

    assert run.returncode == 0, run.stderr
    assert instances_read(run, "App Crashes") == [(utc_today() - timedelta(days=1)).isoformat()]
    (partition,) = run.final_state["bookmarks"]["appstore_report_instances"]["partitions"]
    assert partition["context"]["report_name"] == "App Crashes"


def test_a_bookmark_older_than_apples_retention_warns_which_days_are_lost(
    appstore: AppStore, tmp_path: Path
) -> None:
    bookmark = utc_today() - timedelta(days=50)
    state = {
        "bookmarks": {
            "appstore_report_instances": {
                "partitions": [
                    {
                        "context": {
                            "app_id": APP_ID,
                            "report_name": "App Crashes",
                            "granularity": "DAILY",
                        },
                        "replication_key": "processing_date",
                        "replication_key_value": bookmark.isoformat(),
                    }
                ]
            }
        }
    }

    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path, state=state)

    assert run.returncode == 0, run.stderr
    (warning,) = [line for line in run.stderr.splitlines() if "DATA GAP" in line]
    assert "WARNING" in warning
    assert f"app {APP_ID} report 'App Crashes' (DAILY)" in warning
    first_lost = bookmark + timedelta(days=1)
    last_lost = utc_today() - timedelta(days=36)
    assert f"processed {first_lost} to {last_lost} can no longer be fetched (14 days)" in warning
    assert len(instances_read(run, "App Crashes")) == 4, "what is still there is read"
