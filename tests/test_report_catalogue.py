"""The packaged report catalogue: made from Apple's documentation, and what the tap makes of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segment_analytics_sandbox.generators import report_catalogue
from tap_segment_analytics.appstore.reports import (
    GENERIC_ROWS_STREAM,
    catalogue,
    complete_from,
    report_named,
    rows_stream_name,
)
from tap_segment_analytics.schemas import schema_dir
from tests.promised_streams import FIRST_ROWS_STREAMS
from tests.row_keys import row_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOURCE = PROJECT_ROOT / "sandbox" / "apple-reports" / "catalogue.json"


def source_pages() -> list[dict]:
    """The transcription of Apple's pages, kept in the repository."""
    return list(json.loads(SOURCE.read_text(encoding="utf-8")))


def test_the_generator_reads_the_repository_s_transcription_by_default() -> None:
    assert report_catalogue.SOURCE == SOURCE
    assert SOURCE.is_file()


def test_packaged_catalogue_and_schemas_are_what_the_script_makes() -> None:
    files = report_catalogue.generated_files(source_pages(), schema_dir())

    stale = [str(path) for path, text in files.items() if path.read_text(encoding="utf-8") != text]
    assert not stale, "run python -m segment_analytics_sandbox.generators.report_catalogue"
    rows_schemas = {p.name for p in schema_dir().glob("appstore_*.json")} - {
        f"{name}.json"
        for name in (
            "appstore_report_requests",
            "appstore_reports",
            "appstore_report_instances",
            "appstore_report_segments",
            "appstore_report_dates",
            GENERIC_ROWS_STREAM,
        )
    }
    assert rows_schemas == {path.name for path in files if path.suffix == ".json"} - {
        report_catalogue.CATALOGUE_FILE.name
    }


def test_every_documented_report_and_variant_has_a_stream() -> None:
    pages = source_pages()
    variants = sum(len(page["variants"]) or 1 for page in pages)

    assert len(pages) == 139
    assert len(catalogue()) == variants == 149
    assert len({r.stream for r in catalogue()}) == 149
    # target-postgres makes a table of each: PostgreSQL identifiers have at most 63 characters.
    assert max(len(r.stream) for r in catalogue()) <= 63
    assert set(FIRST_ROWS_STREAMS) <= {r.stream for r in catalogue()}


def test_aliases_map_to_one_stream_and_one_key() -> None:
    row = {"Date": "2026-11-20", "Territory": "US", "Counts": "4"}
    keys = {
        row_key(app_id="1", report_name=name, granularity="DAILY", row=row)
        for name in ("App Downloads Standard", "App Store Downloads Standard")
    }

    assert rows_stream_name("App Store Downloads Standard") == "appstore_app_downloads_standard"
    assert len(keys) == 1
    assert (
        rows_stream_name("App Store Purchases Standard") == "appstore_app_store_purchases_standard"
    )


def test_measures_never_join_the_key_and_dimensions_always_do() -> None:
    for report in catalogue():
        for field in report.fields:
            assert field.key == (
                field.role != "measure" and field.name not in ("App Name", "Processing Date")
            ), (report.name, field.name)
            if field.role == "measure":
                assert field.type in ("integer", "number", "string"), (report.name, field.name)


def test_apples_documented_fields_decide_the_shape_of_reports_the_old_notes_had_wrong() -> None:
    expanded = report_named("App Crashes Expanded")
    crashes = report_named("App Crashes")
    purchases = report_named("App Store Purchases Detailed")
    sessions = report_named("App Sessions Standard")
    assert expanded is not None
    assert crashes is not None
    assert purchases is not None
    assert sessions is not None

    assert [f.name for f in expanded.measures] == ["Count", "Unique Devices"]
    assert {"Platform", "Build", "Release Type", "Territory"} <= set(expanded.fields_by_name)
    assert "App Apple Identifier" not in expanded.fields_by_name
    assert expanded.category == "PERFORMANCE"
    assert "Build" not in crashes.fields_by_name
    assert {f.name: f.type for f in purchases.measures} == {
        "Purchases": "integer",
        "Proceeds in USD": "number",
        "Sales in USD": "number",
        "Paying Users": "integer",
    }
    assert purchases.fields_by_name["Content Apple Identifier"].role == "identifier"
    assert {"Page Type", "App Download Date"} <= set(sessions.fields_by_name)
    assert sessions.fields_by_name["Total Session Duration"].type == "integer"


@pytest.mark.parametrize(
    ("report", "lag"),
    [
        ("App Store Purchases Standard", 2),
        ("App Sessions Standard", 5),
        ("App Crashes Expanded", 8),
        ("Platform App Installs", 0),
        ("AirPlay Errors", None),
    ],
)
def test_completeness_lags_come_from_apples_words(report: str, lag: int | None) -> None:
    catalogued = report_named(report)
    assert catalogued is not None
    assert catalogued.completeness_lag_days == lag


def test_a_date_is_expected_complete_after_its_reports_lag() -> None:
    assert complete_from("App Crashes Expanded", "DAILY", "2026-11-20") == "2026-11-28"
    assert complete_from("App Sessions Standard", "WEEKLY", "2026-11-16") == "2026-11-16"
    assert complete_from("AirPlay Errors", "DAILY", "2026-11-20") is None
    assert complete_from("Some Future Report", "DAILY", "2026-11-20") is None


def test_a_report_whose_date_has_another_name_keys_and_dates_by_it() -> None:
    event = report_named("App Store Subscription Event Standard")
    assert event is not None
    assert event.date_column == "Event Date"
    schema = json.loads((schema_dir() / f"{event.stream}.json").read_text(encoding="utf-8"))
    assert schema["properties"]["date"]["format"] == "date"
