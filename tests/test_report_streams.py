"""The report rows streams the catalogue makes: selection, unknown reports and columns, bad
files, and when a Date is final."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.emit.rows_streams import MAX_COLUMN_WARNINGS
from tap_segment_analytics.appstore.reports import catalogue, complete_from
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.fakes import REPORT_COLUMNS
from tests.tap_runner import run_tap
from tests.warehouse import Warehouse, appstore_differences

CRASHES = "App Crashes"


def discovered(appstore: AppStore) -> dict[str, Any]:
    """The catalog discovery makes for the fixture's config."""
    return dict(TapSegmentAnalytics(config=appstore.config(), validate_config=False).catalog_dict)


def deselected(document: dict[str, Any], *streams: str) -> dict[str, Any]:
    """The catalog with these streams deselected."""
    for entry in document["streams"]:
        if entry["tap_stream_id"] in streams:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["selected"] = False
    return document


def test_discovery_lists_a_typed_stream_for_every_catalogue_report(appstore: AppStore) -> None:
    streams = {s["tap_stream_id"]: s for s in discovered(appstore)["streams"]}
    assert {r.stream for r in catalogue()} <= set(streams)
    expanded = streams["appstore_app_crashes_expanded"]
    assert list(expanded["key_properties"]) == ["row_key"]
    assert expanded["schema"]["properties"]["count"]["type"] == ["integer", "null"]


def test_a_deselected_report_costs_no_request_and_no_schema(
    appstore: AppStore, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(deselected(discovered(appstore), "appstore_app_crashes")))
    appstore.api.clear_log()

    run = run_tap(appstore.config(), tmp_path, args=("--catalog", str(catalog)))

    assert run.returncode == 0, run.stderr
    crashes_id = appstore.api.report_id(APP_ID, CRASHES)
    assert appstore.api.requests_to(f"/v1/analyticsReports/{crashes_id}/") == []
    assert {r["name"] for r in run.records("appstore_reports")} == set(
        appstore.api.report_names(APP_ID)
    ) - {CRASHES}
    schemas = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    assert "appstore_app_crashes" not in schemas
    # Only streams that had records (or are parents of those) sent a SCHEMA.
    assert "appstore_app_clip_usage_standard" not in schemas
    assert "appstore_app_crashes_expanded" in schemas


def test_a_report_the_catalogue_does_not_know_lands_whole_with_one_warning(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(appstore.config(), tmp_path)

    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "is not in the tap's catalogue" in line]
    assert len(lines) == 1
    assert "WARNING" in lines[0]
    assert "'App Store Web Previews'" in lines[0]
    assert {r["report_name"] for r in run.records("appstore_report_rows")} == {
        "App Store Web Previews"
    }


def add_crashes(appstore: AppStore, rows: list[dict[str, str]]) -> None:
    appstore.api.add_instance(APP_ID, CRASHES, "DAILY", utc_today(), [rows])


def test_unknown_columns_warn_once_each_up_to_a_cap_and_are_kept(
    appstore: AppStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = [f"New Column {n}" for n in range(500)]
    monkeypatch.setitem(REPORT_COLUMNS, CRASHES, [*REPORT_COLUMNS[CRASHES], *extra])
    rows = [
        {"Date": utc_today().isoformat(), "Device": f"iPhone{n}", "Crashes": "1"}
        | dict.fromkeys(extra, "v")
        for n in range(3)
    ]
    add_crashes(appstore, rows)

    run = run_tap(appstore.config(appstore_report_names=[CRASHES]), tmp_path)

    assert run.returncode == 0, run.stderr
    warned = [line for line in run.stderr.splitlines() if "is not in the schema" in line]
    assert len(warned) == MAX_COLUMN_WARNINGS
    assert "report 'App Crashes' column 'New Column" in warned[0]
    assert sum("more unknown columns than" in line for line in run.stderr.splitlines()) == 1
    newest = [r for r in run.records("appstore_app_crashes") if r["extra_columns"]]
    assert len(newest) == 3
    assert newest[0]["extra_columns"]["new_column_499"] == "v"


def test_a_date_that_is_not_iso_lands_null_and_as_written_with_a_warning(
    appstore: AppStore, tmp_path: Path
) -> None:
    add_crashes(appstore, [{"Date": "23/11/2026", "Device": "iPhone", "Crashes": "1"}])

    run = run_tap(appstore.config(appstore_report_names=[CRASHES]), tmp_path)

    assert run.returncode == 0, run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "23/11/2026" in line]
    assert "WARNING" in line
    assert "report 'App Crashes'" in line
    assert "segment " in line
    assert "'Date' 1 (e.g. '23/11/2026' on line 2)" in line
    (record,) = [r for r in run.records("appstore_app_crashes") if r["date"] is None]
    assert record["extra_columns"] == {"date": "23/11/2026"}
    assert record["device"] == "iPhone"


def test_with_on_bad_value_fail_a_date_that_is_not_iso_fails_naming_file_line_and_column(
    appstore: AppStore, tmp_path: Path
) -> None:
    add_crashes(appstore, [{"Date": "23/11/2026", "Device": "iPhone", "Crashes": "1"}])

    run = run_tap(appstore.config(appstore_report_names=[CRASHES], on_bad_value="fail"), tmp_path)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "23/11/2026" in line]
    assert "report 'App Crashes'" in line
    assert "segment " in line
    assert line.endswith(
        "line 2, column 'Date' holds '23/11/2026', not a YYYY-MM-DD date (on_bad_value is fail)"
    )
    assert "23/11/2026" not in json.dumps(run.records("appstore_app_crashes"))


def test_a_header_that_matches_nothing_of_the_report_fails_loudly(
    appstore: AppStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file in a delimiter that is neither tab nor comma is read as one column: the whole
    # header line is one name.
    line = ";".join(REPORT_COLUMNS[CRASHES])
    monkeypatch.setitem(REPORT_COLUMNS, CRASHES, [line])
    add_crashes(appstore, [{line: "2026-11-20;Pocket Planner;1"}])

    run = run_tap(appstore.config(appstore_report_names=[CRASHES]), tmp_path)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    (error,) = [text for text in lines if "has none of the report's columns" in text]
    assert "report 'App Crashes'" in error
    assert "segment " in error


def test_report_dates_say_when_each_date_is_expected_complete_and_whether_it_is(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(
        appstore.config(appstore_report_names=["App Crashes Expanded", CRASHES]), tmp_path
    )

    dates = [d for d in run.records("appstore_report_dates") if d["granularity"] == "DAILY"]
    assert dates
    for record in dates:
        complete = complete_from(record["report_name"], "DAILY", record["date"])
        assert record["expected_complete"] == complete
        assert record["final"] == (record["processing_date"] >= complete)
    # Restated over each report's window, the oldest Dates are final, the newest are not.
    assert {d["final"] for d in dates} == {True, False}
    yesterday = (utc_today() - timedelta(days=1)).isoformat()
    assert all(not d["final"] for d in dates if d["date"] == yesterday), "yesterday is not complete"


QUIRKY = ["App Crashes Expanded", "App Downloads Detailed"]


def quirky_store(start_appstore: StartAppStore) -> AppStore:
    """The fake serving App Crashes Expanded comma-separated and Detailed reports' empty
    fields as `""`."""
    store = start_appstore()
    store.api.file_quirks = True
    store.api.populate_sample(app_ids=[APP_ID], today=utc_today(), days=4, reports=QUIRKY)
    return store


def test_the_fake_serves_apples_quirks(start_appstore: StartAppStore) -> None:
    store = quirky_store(start_appstore)

    texts = {}
    for name in QUIRKY:
        (instance, *_) = store.api.instance_ids(APP_ID, name, "DAILY")
        segment = store.api.instance_segments(instance)[0]
        texts[name] = gzip.decompress(store.s3.object(segment.key)).decode()
    header = texts["App Crashes Expanded"].splitlines()[0]
    assert sorted(header.split(",")) == sorted(REPORT_COLUMNS["App Crashes Expanded"])
    assert '\t""\t' in texts["App Downloads Detailed"] or '""\n' in texts["App Downloads Detailed"]


def test_comma_separated_files_and_quoted_empty_fields_land_as_the_truth(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = quirky_store(start_appstore)

    run = run_tap(store.config(), tmp_path)

    assert run.returncode == 0, run.stderr
    warehouse = Warehouse()
    warehouse.load(run.messages)
    differences = appstore_differences(warehouse, store.api, [APP_ID], reports=QUIRKY)
    assert not differences, differences
    detailed = warehouse.table("appstore_app_downloads_detailed").values()
    assert all(record["campaign"] != '""' for record in detailed)


def test_a_report_named_by_its_alias_is_read_under_the_api_s_name(
    appstore: AppStore, tmp_path: Path
) -> None:
    # Apple's page calls `App Downloads Standard` "App Store Downloads": code of 2026 asks for
    # that spelling while the API lists the other.
    run = run_tap(appstore.config(appstore_report_names=["App Store Downloads Standard"]), tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.records("appstore_app_downloads_standard")
    reports = {r["name"] for r in run.records("appstore_reports")}
    assert reports == {"App Downloads Standard"}
